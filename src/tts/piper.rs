//! Piper voice runner: text → espeak-ng IPA phonemes (separate process) → phoneme ids →
//! VITS ONNX model → samples.
//!
//! The phoneme handling matches Piper's `piper-phonemize`: each Unicode code point of espeak's
//! IPA output is one phoneme; clause punctuation is put back after each clause (`, ; :` with a
//! space after them); the id sequence is BOS `^`, every phoneme followed by the pad `_`, EOS
//! `$`; code points the voice does not know are skipped. Piper decomposes the IPA to NFD; the
//! only precomposed symbol espeak emits that a voice map holds is `ç`, decomposed here by hand.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ort::session::Session;
use ort::value::TensorRef;
use serde::Deserialize;

use super::normalize::{self, Reading};
use super::text::{pieces, Clause, Piece};
use super::Audio;

/// The espeak-ng program run for phonemes.
pub const ESPEAK_PROGRAM: &str = "espeak-ng";

#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("voice file not found at {path}. Fix: run `skylark models fetch`.")]
    VoiceMissing { path: PathBuf },
    #[error(
        "the voice config {path} is unreadable: {reason}. Fix: run `skylark models verify`, then \
         `skylark models fetch`."
    )]
    BadConfig { path: PathBuf, reason: String },
    #[error(
        "ONNX Runtime is not loaded, so the voice {path} cannot be opened. Fix: call \
         `skylark::onnx::init(models_dir)` first (the daemon does this at start)."
    )]
    RuntimeNotLoaded { path: PathBuf },
    #[error(
        "could not load the voice {path}: {source}. Fix: run `skylark models verify`, then \
         `skylark models fetch` to replace a damaged file."
    )]
    ModelLoad { path: PathBuf, source: ort::Error },
    #[error("the voice {path} failed to run: {source}")]
    Inference { path: PathBuf, source: ort::Error },
    #[error("the voice {path} returned an unexpected output: {detail}")]
    BadOutput { path: PathBuf, detail: String },
    #[error(
        "`{program}` was not found; Piper voices need it for phonemes. Fix: \
         `apt-get install espeak-ng` (or set the espeak-ng path in the config)."
    )]
    EspeakMissing { program: String },
    #[error("`{program}` failed ({detail}). Check that espeak-ng knows the voice `{voice}` (`espeak-ng --voices`).")]
    Espeak {
        program: String,
        voice: String,
        detail: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
struct VoiceFile {
    audio: AudioSection,
    espeak: EspeakSection,
    inference: InferenceSection,
    #[serde(default)]
    phoneme_type: Option<String>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default = "one")]
    num_speakers: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
struct AudioSection {
    sample_rate: u32,
}

#[derive(Debug, Clone, Deserialize)]
struct EspeakSection {
    voice: String,
}

#[derive(Debug, Clone, Deserialize)]
struct InferenceSection {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

/// Synthesis knobs; defaults come from the voice's `.onnx.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// Variation in the voice (VITS noise).
    pub noise: f32,
    /// Speaking slowness: 1.0 normal, 1.2 slower.
    pub length: f32,
    /// Variation in phoneme durations.
    pub noise_w: f32,
}

/// A loaded Piper voice.
pub struct PiperVoice {
    session: Session,
    path: PathBuf,
    sample_rate: u32,
    espeak_voice: String,
    espeak_program: String,
    /// How numbers, units and times are read (from the voice's espeak-ng language).
    reading: Reading,
    id_map: HashMap<char, Vec<i64>>,
    pad: Vec<i64>,
    bos: Vec<i64>,
    eos: Vec<i64>,
    /// Speaker id for multi-speaker voices (the model then has a `sid` input).
    speaker: Option<i64>,
    pub scales: Scales,
    /// Silence put between sentences by [`synthesize`](Self::synthesize) (Piper's default
    /// 0.2 s); none after the last one, since trailing silence is only latency.
    pub sentence_pause_secs: f32,
}

impl PiperVoice {
    /// Load `<voice>.onnx` and its `<voice>.onnx.json`. ONNX Runtime must be loaded first with
    /// [`crate::onnx::init`].
    pub fn load(model_path: &Path) -> Result<Self, TtsError> {
        if !model_path.is_file() {
            return Err(TtsError::VoiceMissing {
                path: model_path.to_path_buf(),
            });
        }
        let mut config_path = model_path.as_os_str().to_owned();
        config_path.push(".json");
        let config_path = PathBuf::from(config_path);
        let bad = |reason: String| TtsError::BadConfig {
            path: config_path.clone(),
            reason,
        };
        let raw = std::fs::read(&config_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TtsError::VoiceMissing {
                path: config_path.clone(),
            },
            _ => bad(e.to_string()),
        })?;
        let file: VoiceFile = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
        if let Some(kind) = file.phoneme_type.as_deref().filter(|k| *k != "espeak") {
            return Err(bad(format!(
                "phoneme_type `{kind}` is not supported (only `espeak`)"
            )));
        }
        let mut id_map = HashMap::new();
        for (symbol, ids) in &file.phoneme_id_map {
            let mut chars = symbol.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                id_map.insert(c, ids.clone());
            }
        }
        let special = |c: char| {
            id_map
                .get(&c)
                .cloned()
                .ok_or_else(|| bad(format!("phoneme_id_map has no `{c}`")))
        };
        let (pad, bos, eos) = (special('_')?, special('^')?, special('$')?);

        let env = crate::onnx::environment().ok_or_else(|| TtsError::RuntimeNotLoaded {
            path: model_path.into(),
        })?;
        let load_err = |source: ort::Error| TtsError::ModelLoad {
            path: model_path.to_path_buf(),
            source,
        };
        let session = Session::builder(env).map_err(load_err)?;
        let session =
            crate::onnx::commit_cached(session, model_path, "piper default").map_err(load_err)?;
        let has_sid = session.inputs().iter().any(|i| i.name() == "sid");
        // Feed `sid` only when the graph has it; a config claiming several speakers for a
        // graph without one would otherwise make every run fail.
        if file.num_speakers > 1 && !has_sid {
            tracing::warn!(path = %model_path.display(), "voice config lists several speakers but the model has no `sid` input");
        }
        let speaker = has_sid.then_some(0);

        Ok(Self {
            session,
            path: model_path.to_path_buf(),
            sample_rate: file.audio.sample_rate,
            reading: Reading::for_espeak_voice(&file.espeak.voice),
            espeak_voice: file.espeak.voice,
            espeak_program: ESPEAK_PROGRAM.to_string(),
            id_map,
            pad,
            bos,
            eos,
            speaker,
            sentence_pause_secs: 0.2,
            scales: Scales {
                noise: file.inference.noise_scale,
                length: file.inference.length_scale,
                noise_w: file.inference.noise_w,
            },
        })
    }

    /// Run a different espeak-ng binary (a path, or a name looked up in `$PATH`).
    pub fn with_espeak_program(mut self, program: impl Into<String>) -> Self {
        self.espeak_program = program.into();
        self
    }

    /// Choose the speaker of a multi-speaker voice (ignored by single-speaker voices).
    pub fn set_speaker(&mut self, id: i64) {
        if self.speaker.is_some() {
            self.speaker = Some(id);
        }
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// How this voice reads numbers, units and times (its language's rules in [`normalize`]).
    pub fn reading(&self) -> Reading {
        self.reading
    }

    /// Speak `text`: piece by piece (see [`text::pieces`](super::text::pieces)),
    /// concatenated, with `sentence_pause_secs` between sentences. Text with nothing
    /// speakable gives empty audio, not an error. Numbers, units and times are read by
    /// [`normalize`] first.
    pub fn synthesize(&mut self, text: &str) -> Result<Audio, TtsError> {
        let (rate, pause) = (self.sample_rate, self.sentence_pause_secs);
        super::join_pieces(rate, pause, |on_piece| self.synthesize_each(text, on_piece))
    }

    /// Speak one piece at a time, for streaming playback: the first clause of each sentence,
    /// then the rest of it ([`text::pieces`](super::text::pieces)). The callback gets each
    /// piece's audio as soon as it is ready, and whether it ends a sentence, and may return
    /// `false` to stop (barge-in, cancel). The audio carries no pause; the player inserts
    /// `sentence_pause_secs` after a sentence.
    pub fn synthesize_each(
        &mut self,
        text: &str,
        mut on_piece: impl FnMut(Audio, bool) -> bool,
    ) -> Result<(), TtsError> {
        let text = normalize::for_speech(text, self.reading);
        let all = pieces(&text);
        let mut start = 0;
        while start < all.len() {
            // One espeak-ng run phonemises a batch of pieces (a process start is ~10 ms, as
            // much as the model takes for a short piece): the first sentence's pieces, so the
            // first sound waits for no more than its sentence, then about BATCH_CHARS at a time.
            let mut end = start + 1;
            let mut chars = all[start].text().len();
            while end < all.len()
                && (if start == 0 {
                    !all[end - 1].ends_sentence
                } else {
                    chars < BATCH_CHARS
                })
            {
                chars += all[end].text().len();
                end += 1;
            }
            let batch = &all[start..end];
            start = end;
            for (piece, phonemes) in batch.iter().zip(self.phonemize_pieces(batch)?) {
                let ids = self.phoneme_ids(&phonemes);
                if ids.len() <= self.bos.len() + self.pad.len() + self.eos.len() {
                    continue; // nothing the voice can say
                }
                let samples = self.infer(&ids)?;
                let audio = Audio {
                    samples,
                    sample_rate: self.sample_rate,
                };
                if !on_piece(audio, piece.ends_sentence) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The phonemes of each piece, from one espeak-ng run when espeak finds the same clauses
    /// (else one run per piece).
    fn phonemize_pieces(&self, batch: &[Piece]) -> Result<Vec<String>, TtsError> {
        let clauses: Vec<Clause> = batch.iter().flat_map(|p| p.clauses.clone()).collect();
        let lines = self.espeak_ipa(&clause_text(&clauses))?;
        if lines.len() != clauses.len() {
            return batch
                .iter()
                .map(|p| self.phonemize_sentence(&p.clauses))
                .collect();
        }
        let mut lines = lines.into_iter();
        Ok(batch
            .iter()
            .map(|p| {
                let mine: Vec<String> = lines.by_ref().take(p.clauses.len()).collect();
                assemble(&mine, &p.clauses)
            })
            .collect())
    }

    /// The IPA phonemes of one sentence, with clause punctuation restored, as Piper builds them.
    pub fn phonemize_sentence(&self, clauses: &[Clause]) -> Result<String, TtsError> {
        let lines = self.espeak_ipa(&clause_text(clauses))?;
        Ok(assemble(&lines, clauses))
    }

    /// Phoneme ids of one model run: `^ _ p1 _ p2 _ … pn _ $`.
    fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 4);
        ids.extend(&self.bos);
        ids.extend(&self.pad);
        for c in phonemes.chars() {
            // NFD for the one precomposed symbol espeak emits (see module docs).
            let parts: &[char] = if c == 'ç' { &['c', '\u{327}'] } else { &[c] };
            for p in parts {
                match self.id_map.get(p) {
                    Some(v) => {
                        ids.extend(v);
                        ids.extend(&self.pad);
                    }
                    None => {
                        tracing::debug!(phoneme = %p, "phoneme not in the voice's map; skipped")
                    }
                }
            }
        }
        ids.extend(&self.eos);
        ids
    }

    /// espeak-ng's IPA for `text`, one line per clause it found. Text goes in on stdin, so text
    /// that starts with `-` is never read as an option.
    fn espeak_ipa(&self, text: &str) -> Result<Vec<String>, TtsError> {
        let program = &self.espeak_program;
        let failed = |detail: String| TtsError::Espeak {
            program: program.clone(),
            voice: self.espeak_voice.clone(),
            detail,
        };
        let mut child = Command::new(program)
            .args([
                "-q",
                "--ipa",
                "-b",
                "1",
                "--stdin",
                "-v",
                &self.espeak_voice,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => TtsError::EspeakMissing {
                    program: program.clone(),
                },
                _ => failed(e.to_string()),
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // Newlines would only be read as spaces; make that explicit.
            let line = text.replace(['\n', '\r'], " ");
            stdin
                .write_all(line.as_bytes())
                .map_err(|e| failed(format!("writing text: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| failed(e.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(failed(format!("{}: {}", output.status, stderr.trim())));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(stdout
            .lines()
            .map(|l| strip_language_flags(l).trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }

    fn infer(&mut self, ids: &[i64]) -> Result<Vec<f32>, TtsError> {
        let path = &self.path;
        let run_err = |source| TtsError::Inference {
            path: path.clone(),
            source,
        };
        let n = ids.len();
        let input = TensorRef::from_array_view(([1usize, n], ids)).map_err(run_err)?;
        let lengths = [n as i64];
        let lengths = TensorRef::from_array_view(([1usize], &lengths[..])).map_err(run_err)?;
        let scales = [self.scales.noise, self.scales.length, self.scales.noise_w];
        let scales = TensorRef::from_array_view(([3usize], &scales[..])).map_err(run_err)?;
        let sid = [self.speaker.unwrap_or(0)];
        let outputs = if self.speaker.is_some() {
            let sid = TensorRef::from_array_view(([1usize], &sid[..])).map_err(run_err)?;
            self.session.run(ort::inputs![
                "input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid
            ])
        } else {
            self.session
                .run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
        }
        .map_err(run_err)?;
        super::output_samples(&outputs, "output", path)
    }
}

/// Phonemes are asked of espeak-ng for this much text at most at once (see `synthesize_each`).
const BATCH_CHARS: usize = 800;

/// Clauses as one line of text for espeak-ng, each with its punctuation.
fn clause_text(clauses: &[Clause]) -> String {
    clauses
        .iter()
        .map(|c| {
            format!(
                "{}{}",
                c.text,
                c.terminator.map(String::from).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// espeak-ng's lines (one per clause it found) with the clauses' punctuation put back, as
/// Piper does.
fn assemble(lines: &[String], clauses: &[Clause]) -> String {
    let mut out = String::new();
    if lines.len() == clauses.len() {
        for (line, clause) in lines.iter().zip(clauses) {
            out.push_str(line);
            out.extend(clause.terminator);
            if !clause.ends_sentence() {
                out.push(' ');
            }
        }
    } else {
        // espeak split the clauses differently (e.g. at an abbreviation): keep its
        // phonemes, lose only the inner pauses.
        out.push_str(&lines.join(" "));
        out.extend(clauses.last().and_then(|c| c.terminator));
    }
    out
}

/// Drop espeak's language-switch marks such as `(fr)` … `(en)`, as piper-phonemize does: the
/// voice was trained without them, and `(`/`)` would otherwise be read as pause symbols.
fn strip_language_flags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_flag = false;
    for c in line.chars() {
        match c {
            '(' => in_flag = true,
            ')' if in_flag => in_flag = false,
            _ if !in_flag => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip_language_flags;

    #[test]
    fn language_flags_are_removed() {
        assert_eq!(
            strip_language_flags("ɪts (fr)ʃɛʁʃe(en) tˈaɪm"),
            "ɪts ʃɛʁʃe tˈaɪm"
        );
        assert_eq!(strip_language_flags("həlˈoʊ"), "həlˈoʊ");
    }
}
