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
