//! The speech stages of the engine, built from the configuration: speech recognition
//! ([`WhisperTranscriber`]) and speech output ([`VoiceSpeaker`]: Piper, espeak-ng for
//! Mandarin). Models are loaded once, here, at start; what cannot load becomes a missing stage
//! whose reason names the file and the fix, and the daemon still serves text.

pub mod espeak;
pub mod speaker;
pub mod transcriber;

use std::path::Path;
use std::sync::Arc;

pub use speaker::VoiceSpeaker;
pub use transcriber::WhisperTranscriber;

use crate::config::Config;
use crate::engine::{Speaker, Stage, Stages, Transcriber};

/// The speech-recognition stage `config` asks for, or why it is missing.
pub fn transcriber(config: &Config, models_dir: &Path) -> Stage<dyn Transcriber> {
    match WhisperTranscriber::load(config, models_dir) {
        Ok(t) => Stage::Ready(Arc::new(t)),
        Err(why) => {
            let why = format!("speech recognition is not available: {why}");
            tracing::warn!("{why}");
            Stage::Missing(why)
        }
    }
}

/// The speech-output stage, or why it is missing (no output device, no voice).
pub fn speaker(config: &Config, models_dir: &Path) -> Stage<dyn Speaker> {
    match VoiceSpeaker::load(config, models_dir) {
        Ok(s) => Stage::Ready(Arc::new(s)),
        Err(why) => {
            let why = format!("speech output is not available: {why}");
            tracing::warn!("{why}");
            Stage::Missing(why)
        }
    }
}

/// Every stage this build has, loaded from `config` and `models_dir`; the ones not built yet
/// stay as in [`Stages::text_only`].
pub fn load_stages(config: &Config, models_dir: &Path) -> Stages {
    Stages {
        transcriber: transcriber(config, models_dir),
        speaker: speaker(config, models_dir),
        ..Stages::text_only()
    }
}
