//! The engine's configuration and the plain values its methods take and return.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::EngineError;
use super::event::Source;
use crate::config::Config;
use crate::nlu::{Language, SlotValue};

/// The engine's limits and defaults, from the `[dbus]` section and `language` of the config.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub language: Language,
    pub handler_timeout: Duration,
    pub max_text_bytes: usize,
    pub max_concurrent_turns: usize,
    pub max_handlers: usize,
    pub max_list_entries: usize,
    /// Longest audio `Transcribe` accepts, in seconds (`asr.max_audio_seconds`).
    pub max_audio_seconds: u32,
    /// Tolerant matching after the exact one (`nlu.tolerant`) and its lowest confidence
    /// (`nlu.tolerant_threshold`).
    pub tolerant: bool,
    pub tolerant_threshold: f64,
    /// Loudness of speech at start, 0–1 (`tts.volume`; the `Volume` property changes it).
    pub volume: f64,
}

impl EngineConfig {
    pub fn from_config(config: &Config) -> Result<EngineConfig, EngineError> {
        let language = Language::parse(&config.language)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        Ok(EngineConfig {
            language,
            handler_timeout: Duration::from_millis(config.dbus.handler_timeout_ms),
            max_text_bytes: config.dbus.max_text_bytes,
            max_concurrent_turns: config.dbus.max_concurrent_turns,
            max_handlers: config.dbus.max_handlers,
            max_list_entries: config.dbus.max_list_entries,
            max_audio_seconds: config.asr.max_audio_seconds,
            tolerant: config.nlu.tolerant,
            tolerant_threshold: config.nlu.tolerant_threshold,
            volume: f64::from(config.tts.volume),
        })
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::from_config(&Config::default()).unwrap_or(EngineConfig {
            language: Language::english(),
            handler_timeout: Duration::from_secs(3),
            max_text_bytes: 4096,
            max_concurrent_turns: 16,
            max_handlers: 64,
            max_list_entries: 10_000,
            max_audio_seconds: 600,
            tolerant: true,
            tolerant_threshold: crate::nlu::DEFAULT_TOLERANT_THRESHOLD,
            volume: 1.0,
        })
    }
}

/// `Recognize`'s answer: text → intent, nothing executed.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// `""` when nothing matched.
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
    pub confidence: f64,
    pub source: Source,
}

/// Where intents are resolved: on the device only, device first then cloud, or cloud first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingMode {
    Local,
    Hybrid,
    Cloud,
}

impl RoutingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingMode::Local => "local",
            RoutingMode::Hybrid => "hybrid",
            RoutingMode::Cloud => "cloud",
        }
    }

    pub fn parse(s: &str) -> Result<RoutingMode, EngineError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(RoutingMode::Local),
            "hybrid" => Ok(RoutingMode::Hybrid),
            "cloud" => Ok(RoutingMode::Cloud),
            _ => Err(EngineError::InvalidArgument(format!(
                "routing mode {s:?} is not one of local, hybrid, cloud"
            ))),
        }
    }
}

/// Options of `Ask`.
#[derive(Debug, Clone, Default)]
pub struct AskOptions {
    /// Overrides the `Language` property for this turn.
    pub language: Option<String>,
    /// Speak the answer (default true).
    pub speak: Option<bool>,
}
