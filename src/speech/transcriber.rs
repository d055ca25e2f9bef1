//! [`WhisperTranscriber`]: the engine's speech-recognition stage over whisper.cpp.
//!
//! English uses the configured English model (`asr.model_en`, whisper tiny.en by default:
//! small and fast), Mandarin the multilingual one (`asr.model_multilingual`). Each model is
//! loaded once, at start, and shared by every call (calls on one model take turns on its
//! decoder state). A model that is missing or corrupt only takes its language away: the stage
//! answers for the other, and says which file is at fault and how to fix it for this one.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::asr::{AsrOptions, TranscribeOptions, WhisperRecognizer};
use crate::config::Config;
use crate::engine::{Audio, CancelToken, StageError, Transcriber};
use crate::models::Manifest;
use crate::nlu::Language;

/// Primes whisper with the kind of sentence a cockpit hears. Without it tiny.en heard half of
/// the Piper clips of "Turn on the air conditioning." as "Pern on …"; with it, none.
const EN_PROMPT: &str = "Turn on the air conditioning. Open the window. Play some music.";
/// Silence put before the audio: 0.3 s at 16 kHz.
const LEAD_IN: usize = 4_800;
/// Whisper reads 30 s at a time; longer audio is cut into pieces of at most this many
/// samples (28 s), each cut at the quietest 100 ms of its last 5 s so no word is split.
const PIECE: usize = 28 * 16_000;
const CUT_SEARCH: usize = 5 * 16_000;
const FRAME: usize = 1_600;
/// A piece whose RMS is below this (-60 dBFS) holds no speech and is not transcribed.
const QUIET_RMS: f32 = 0.001;

struct Transcript {
    text: String,
}

fn rms(s: &[f32]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
}

/// `samples` cut into pieces whisper takes in one window: at most [`PIECE`] long, each cut
/// at the quietest frame near its end. Short audio is one piece.
fn pieces(samples: &[f32]) -> Vec<&[f32]> {
    let mut out = Vec::new();
    let mut rest = samples;
    while rest.len() > PIECE {
        let search = &rest[PIECE - CUT_SEARCH..PIECE];
        let quietest = search
            .chunks(FRAME)
            .enumerate()
            .min_by(|a, b| rms(a.1).total_cmp(&rms(b.1)))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let cut = PIECE - CUT_SEARCH + quietest * FRAME + FRAME / 2;
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// A loaded model, or why it could not be loaded (naming the file and the fix).
type Loaded = Result<Arc<WhisperRecognizer>, String>;

pub struct WhisperTranscriber {
    english: Loaded,
    mandarin: Loaded,
}

impl WhisperTranscriber {
    /// Loads the models `config` names from `models_dir`. `Err` when neither loads, with both
    /// reasons.
    pub fn load(config: &Config, models_dir: &Path) -> Result<WhisperTranscriber, String> {
        Self::load_for(config, models_dir, None)
    }

    /// As [`load`](Self::load), but only the model `only` needs (a one-shot command need not
    /// load both).
    pub fn load_for(
        config: &Config,
        models_dir: &Path,
        only: Option<&Language>,
    ) -> Result<WhisperTranscriber, String> {
        let manifest = Manifest::builtin().map_err(|e| e.to_string())?;
        let mut options = AsrOptions::default();
        options.threads = match config.asr.threads {
            // One core less than the machine has (at least 1, at most 4): whisper.cpp's worker
            // threads spin while they wait for each other, and when they outnumber the cores
            // left free by Piper, the reactor and other programs, a decode becomes ten times
            // slower (a 1.4 s command took 17 s with 2 threads on a busy 2-core machine, 1.9 s
            // with 1).
            0 => std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1))
                .unwrap_or(1)
                .clamp(1, 4),
            n => n,
        };
        let load = |id: &str, language: &str| -> Loaded {
            let path = manifest
                .primary_path(models_dir, id)
                .map_err(|e| e.to_string())?;
            let t = Instant::now();
            let opts = AsrOptions {
                language: language.into(),
                ..options.clone()
            };
            let r = WhisperRecognizer::load(&path, &opts).map_err(|e| e.to_string())?;
            tracing::info!(model = %path.display(), language, ms = t.elapsed().as_millis() as u64, "speech model loaded");
            Ok(Arc::new(r))
        };
        let zh_only = only.is_some_and(|l| l.primary() == "zh");
        let en_only = only.is_some_and(|l| l.primary() != "zh");
        let skipped = || Err("not loaded by this command".to_string());
        let english = if zh_only {
            skipped()
        } else {
            load(&config.asr.model_en, "en")
        };
        let mandarin = if config.asr.model_multilingual == config.asr.model_en && !zh_only {
            english.clone()
        } else if en_only {
            skipped()
        } else {
            load(&config.asr.model_multilingual, "zh-CN")
        };
        // English still works from the multilingual model when the English one is missing.
        let english = match (english, &mandarin) {
            (Err(why), Ok(m)) => {
                tracing::warn!(
                    "{why}; English is recognised with the multilingual model {}",
                    m.model_path().display()
                );
                Ok(m.clone())
            }
            (e, _) => e,
        };
        match (&english, &mandarin) {
            (Err(en), Err(_)) if en_only => Err(en.clone()),
            (Err(_), Err(zh)) if zh_only => Err(zh.clone()),
            (Err(en), Err(zh)) if en == zh => Err(en.clone()),
            (Err(en), Err(zh)) => Err(format!("{en}; {zh}")),
            _ => {
                if let (Err(why), None) = (&mandarin, only) {
                    tracing::warn!("Mandarin speech recognition is not available: {why}");
                }
                Ok(WhisperTranscriber { english, mandarin })
            }
        }
    }

    fn model(&self, language: &Language) -> Result<&Arc<WhisperRecognizer>, String> {
        let loaded = if language.primary() == "zh" {
            &self.mandarin
        } else {
            &self.english
        };
        loaded
            .as_ref()
            .map_err(|why| format!("speech recognition is not available in {language}: {why}"))
    }
}

impl Transcriber for WhisperTranscriber {
    fn transcribe(
        &self,
        audio: &Audio,
        language: &Language,
        cancel: &CancelToken,
    ) -> Result<String, StageError> {
        let model = self.model(language).map_err(StageError)?;
        let t = Instant::now();
        let opts = TranscribeOptions {
            language: Some(language.to_string()),
            initial_prompt: (language.primary() == "en").then(|| EN_PROMPT.to_string()),
            ..TranscribeOptions::default()
        };
        let mut texts = Vec::new();
        for piece in pieces(&audio.samples) {
            if cancel.is_cancelled() {
                return Err(StageError("speech recognition was cancelled".into()));
            }
            if rms(piece) < QUIET_RMS {
                continue; // whisper "hears" words in near-silence; there are none
            }
            // Whisper often drops the first word of audio that starts at once (a synthesised
            // or tightly cut clip: "turn on" became "Pern on"); a little leading silence fixes
            // it.
            let mut padded = vec![0.0; LEAD_IN];
            padded.extend_from_slice(piece);
            let transcript = model
                .transcribe(&padded, &opts)
                .map_err(|e| StageError(e.to_string()))?;
            if !transcript.text.is_empty() {
                texts.push(transcript.text);
            }
        }
        let sep = if language.primary() == "zh" { "" } else { " " };
        let transcript = Transcript {
            text: texts.join(sep),
        };
        let secs = audio.samples.len() as f64 / 16_000.0;
        tracing::info!(
            audio_s = secs,
            ms = t.elapsed().as_millis() as u64,
            model = %model.model_path().display(),
            text = %transcript.text,
            "transcribed"
        );
        Ok(transcript.text)
    }

    fn available(&self, language: &Language) -> Result<(), String> {
        self.model(language).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_audio_is_cut_at_quiet_points_into_whisper_windows() {
        assert_eq!(pieces(&[0.5; 16_000]).len(), 1);
        // 70 s of tone with a silent 100 ms frame at 25.0 s and 50.0 s.
        let mut s = vec![0.5f32; 70 * 16_000];
        for at in [25 * 16_000, 50 * 16_000] {
            s[at..at + FRAME].fill(0.0);
        }
        let p = pieces(&s);
        assert_eq!(p.iter().map(|p| p.len()).sum::<usize>(), s.len());
        assert!(p.iter().all(|p| p.len() <= PIECE));
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].len(), 25 * 16_000 + FRAME / 2);
    }
}
