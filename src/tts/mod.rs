//! Speech synthesis. [`piper::PiperVoice`] runs a Piper (VITS) voice on ONNX Runtime with
//! phonemes from espeak-ng; [`kokoro::KokoroVoice`] runs Kokoro-82M for Mandarin with phonemes
//! from [`zh_g2p`] (Rust, no espeak-ng); [`text`] splits text into the sentences and clauses
//! they speak.
//!
//! espeak-ng is GPL-3: skylark only ever runs it as a separate process and reads its text
//! output, and never links it.

pub mod kokoro;
pub mod normalize;
pub mod piper;
pub mod text;
pub mod zh_g2p;

pub use piper::{PiperVoice, TtsError};

/// Synthesised mono audio.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audio {
    /// Samples in [-1, 1].
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

impl Audio {
    pub fn duration_secs(&self) -> f32 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f32 / self.sample_rate as f32
    }

    /// Root mean square level, 0 for silence.
    pub fn rms(&self) -> f32 {
        if self.samples.is_empty() {
            return 0.0;
        }
        (self.samples.iter().map(|s| s * s).sum::<f32>() / self.samples.len() as f32).sqrt()
    }
}

/// The float samples of output `name` of a voice model's run, clamped to [-1, 1].
pub(crate) fn output_samples(
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
    path: &std::path::Path,
) -> Result<Vec<f32>, TtsError> {
    let bad = |detail: String| TtsError::BadOutput {
        path: path.to_path_buf(),
        detail,
    };
    let value = outputs
        .get(name)
        .ok_or_else(|| bad(format!("no `{name}`")))?;
    let (_, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| bad(e.to_string()))?;
    Ok(data.iter().map(|s| s.clamp(-1.0, 1.0)).collect())
}

/// A voice's pieces (from its `synthesize_each`) joined into one sound, `pause_secs` of silence
/// after each piece that ends a sentence and is not the last.
pub(crate) fn join_pieces(
    sample_rate: u32,
    pause_secs: f32,
    each: impl FnOnce(&mut dyn FnMut(Audio, bool) -> bool) -> Result<(), TtsError>,
) -> Result<Audio, TtsError> {
    let mut samples = Vec::new();
    let pause = (pause_secs.max(0.0) * sample_rate as f32) as usize;
    let mut after_sentence = false;
    each(&mut |audio, ends_sentence| {
        if after_sentence {
            samples.extend(std::iter::repeat_n(0.0, pause));
        }
        samples.extend(audio.samples);
        after_sentence = ends_sentence;
        true
    })?;
    Ok(Audio {
        samples,
        sample_rate,
    })
}
