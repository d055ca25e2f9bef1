//! Audio in and out of the engine. Everything downstream (VAD, wake word, whisper) works on
//! 16 kHz mono `f32` samples in [-1, 1]; this module is where other formats become that.

#[cfg(target_os = "linux")]
pub mod alsa_log;
pub mod capture;
pub mod echo;
pub mod input;
pub mod playback;
pub mod source;
pub mod wav;

pub use capture::{CaptureError, Microphone};
pub use source::{push_source, AudioPusher, AudioSource, ClipSource, PushSource};

pub use wav::{
    read_wav, read_wav_from, resample, write_wav, ResampleError, WavError, TARGET_SAMPLE_RATE,
};

#[cfg(test)]
mod wav_tests;
