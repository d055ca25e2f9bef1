//! Kokoro-82M v1.0 voice runner for Mandarin: text → [`zh_g2p`] phonemes → Kokoro vocabulary
//! ids → ONNX model with the voice pack's style → 24 kHz samples.
//!
//! As hexgrad's `KPipeline` and skylark's Python reference (`benches/speech_intent/kokoro_zh.py`):
//! the phonemes' characters that the vocabulary (`vocab.json`) knows become ids, wrapped in the
//! pad id 0; the style is row `len(ids) - 1` of the voice pack (float32 `[510, 256]`, one style
//! per phoneme count); `speed` 1.0 is normal. A model run takes at most 510 ids, so a longer
//! piece is cut at a word boundary (a space of the phonemes). The model's own lead and tail
//! silence is trimmed (above 0.01 from 50 ms before the first sample to 50 ms after the last),
//! which is first-audio latency otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::normalize::{self, Reading};
use super::text::pieces;
use super::{zh_g2p, Audio, TtsError};

/// Kokoro's output rate.
pub const SAMPLE_RATE: u32 = 24_000;
/// Width of one style vector.
const STYLE_DIM: usize = 256;
/// Phoneme ids in one model run (the model's 512 positions less the two pads).
pub const MAX_TOKENS: usize = 510;

/// A loaded Kokoro model with one voice pack.
pub struct KokoroVoice {
    session: Session,
    path: PathBuf,
    vocab: HashMap<char, i64>,
    /// The voice pack: `rows × STYLE_DIM` floats.
    styles: Vec<f32>,
    /// Speaking rate: 1.0 normal, 1.2 faster.
    pub speed: f32,
    /// Silence put between sentences by [`synthesize`](Self::synthesize).
    pub sentence_pause_secs: f32,
}

impl KokoroVoice {
    /// Load the model, its vocabulary (`vocab.json`, `{"vocab": {"a": 43, …}}`) and a voice
    /// pack (`*.bin`, little-endian float32 `[N, 256]`). ONNX Runtime must be loaded first
    /// ([`crate::onnx::init`]).
    pub fn load(model: &Path, vocab: &Path, voice: &Path) -> Result<Self, TtsError> {
        for path in [model, vocab, voice] {
            if !path.is_file() {
                return Err(TtsError::VoiceMissing { path: path.into() });
            }
        }
        let bad = |path: &Path, reason: String| TtsError::BadConfig {
            path: path.into(),
            reason,
        };
        let raw = std::fs::read(vocab).map_err(|e| bad(vocab, e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| bad(vocab, e.to_string()))?;
        let mut ids = HashMap::new();
        for (symbol, id) in json["vocab"].as_object().into_iter().flatten() {
            let mut chars = symbol.chars();
            if let (Some(c), None, Some(id)) = (chars.next(), chars.next(), id.as_i64()) {
                ids.insert(c, id);
            }
        }
        if ids.is_empty() {
            return Err(bad(vocab, "no `vocab` map of phonemes to ids".into()));
        }
        let raw = std::fs::read(voice).map_err(|e| bad(voice, e.to_string()))?;
        if raw.is_empty() || raw.len() % (4 * STYLE_DIM) != 0 {
            return Err(bad(
                voice,
                format!(
                    "{} bytes is not a whole number of {STYLE_DIM}-float styles",
                    raw.len()
                ),
            ));
        }
        let styles: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();

        let env = crate::onnx::environment()
            .ok_or_else(|| TtsError::RuntimeNotLoaded { path: model.into() })?;
        let load_err = |source: ort::Error| TtsError::ModelLoad {
            path: model.to_path_buf(),
            source,
        };
        // One intra-op thread per core (up to 4), as the Python reference's 2 on this VM; ONNX
        // Runtime's own default counts physical cores, which a VM may report as one.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let builder = Session::builder(env)
            .map_err(load_err)?
            .with_intra_threads(threads)
            .map_err(|e| load_err(e.into()))?;
        // Through the optimised-model cache, as Piper: later loads skip optimising and
        // prepacking, and map the weights.
        let session =
            crate::onnx::commit_cached(builder, model, &format!("kokoro threads={threads}"))
                .map_err(load_err)?;
        Ok(Self {
            session,
            path: model.to_path_buf(),
            vocab: ids,
            styles,
            speed: 1.0,
            sentence_pause_secs: 0.2,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    /// The vocabulary ids of `phonemes`; characters the model does not know are skipped.
    pub fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        phonemes
            .chars()
            .filter_map(|c| self.vocab.get(&c).copied())
            .collect()
    }

    /// Speak `text` (normalised for Mandarin first): piece by piece, concatenated, with
    /// `sentence_pause_secs` between sentences. Nothing speakable gives empty audio.
    pub fn synthesize(&mut self, text: &str) -> Result<Audio, TtsError> {
        let pause = self.sentence_pause_secs;
        super::join_pieces(SAMPLE_RATE, pause, |on_piece| {
            self.synthesize_each(text, on_piece)
        })
    }

    /// Speak one piece at a time ([`pieces`]: a sentence's first clause, then the rest), for
    /// streaming playback; `on_piece` gets each piece's audio and whether it ends a sentence,
    /// and returns `false` to stop.
    pub fn synthesize_each(
        &mut self,
        text: &str,
        mut on_piece: impl FnMut(Audio, bool) -> bool,
    ) -> Result<(), TtsError> {
        let text = normalize::for_speech(text, Reading::Mandarin);
        for piece in pieces(&text) {
            let phonemes = zh_g2p::phonemes(&piece.text());
            let ids = self.phoneme_ids(&phonemes);
            let chunks = split_ids(&ids, self.vocab.get(&' ').copied());
            let last = chunks.len().saturating_sub(1);
            for (k, chunk) in chunks.into_iter().enumerate() {
                let samples = trim_silence(self.infer(chunk)?);
                if samples.is_empty() {
                    continue;
                }
                let audio = Audio {
                    samples,
                    sample_rate: SAMPLE_RATE,
                };
                if !on_piece(audio, piece.ends_sentence && k == last) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// One model run on at most [`MAX_TOKENS`] ids.
    fn infer(&mut self, ids: &[i64]) -> Result<Vec<f32>, TtsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let path = &self.path;
        let run_err = |source| TtsError::Inference {
            path: path.clone(),
            source,
        };
        let rows = self.styles.len() / STYLE_DIM;
        let row = (ids.len() - 1).min(rows.saturating_sub(1));
        let style = &self.styles[row * STYLE_DIM..(row + 1) * STYLE_DIM];
        let mut tokens = Vec::with_capacity(ids.len() + 2);
        tokens.push(0);
        tokens.extend_from_slice(ids);
        tokens.push(0);
        let n = tokens.len();
        let tokens = TensorRef::from_array_view(([1usize, n], &tokens[..])).map_err(run_err)?;
        let style = TensorRef::from_array_view(([1usize, STYLE_DIM], style)).map_err(run_err)?;
        let speed = [self.speed];
        let speed = TensorRef::from_array_view(([1usize], &speed[..])).map_err(run_err)?;
        let outputs = self
            .session
            .run(ort::inputs!["tokens" => tokens, "style" => style, "speed" => speed])
            .map_err(run_err)?;
        super::output_samples(&outputs, "audio", path)
    }
}

/// Cuts ids into runs of at most [`MAX_TOKENS`], each ending at a word boundary (the `space`
/// id) when one is in its second half, else where the limit falls.
fn split_ids(ids: &[i64], space: Option<i64>) -> Vec<&[i64]> {
    let mut out = Vec::new();
    let mut rest = ids;
    while rest.len() > MAX_TOKENS {
        let cut = space
            .and_then(|sp| {
                rest[MAX_TOKENS / 2..MAX_TOKENS]
                    .iter()
                    .rposition(|&i| i == sp)
            })
            .map_or(MAX_TOKENS, |p| MAX_TOKENS / 2 + p + 1);
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The model's lead and tail silence removed, 50 ms kept on each side of the speech.
fn trim_silence(samples: Vec<f32>) -> Vec<f32> {
    const THRESHOLD: f32 = 0.01;
    let keep = (SAMPLE_RATE / 20) as usize;
    let Some(first) = samples.iter().position(|s| s.abs() > THRESHOLD) else {
        return Vec::new();
    };
    let last = samples
        .iter()
        .rposition(|s| s.abs() > THRESHOLD)
        .unwrap_or(first);
    let start = first.saturating_sub(keep);
    let end = (last + keep + 1).min(samples.len());
    samples[start..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_are_cut_at_spaces_within_the_limit() {
        let mut ids = Vec::new();
        for _ in 0..300 {
            ids.extend([43, 44, 16]);
        }
        let chunks = split_ids(&ids, Some(16));
        assert!(chunks
            .iter()
            .all(|c| c.len() <= MAX_TOKENS && !c.is_empty()));
        assert!(chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.last() == Some(&16)));
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), ids.len());
        let no_space = vec![43; 1200];
        let chunks = split_ids(&no_space, Some(16));
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [510, 510, 180]
        );
        assert!(split_ids(&[], Some(16)).is_empty());
    }

    #[test]
    fn silence_is_trimmed_to_50_ms() {
        let mut s = vec![0.0; 24_000];
        s.extend(vec![0.5; 100]);
        s.extend(vec![0.0; 24_000]);
        let t = trim_silence(s);
        assert_eq!(t.len(), 1200 + 100 + 1200);
        assert!(trim_silence(vec![0.001; 500]).is_empty());
    }
}
