//! What the engine tells its adapters, on a broadcast channel: the D-Bus service turns each
//! event into a signal or a `PropertiesChanged`, the CLI prints them.

use std::collections::BTreeMap;

use super::turn::{StageTimings, State, TurnId, TurnStatus};
use crate::nlu::SlotValue;

/// Where an intent came from (`Recognize`'s and `IntentRecognized`'s `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Grammar,
    Llm,
    Cloud,
    /// Nothing matched.
    None,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Grammar => "grammar",
            Source::Llm => "llm",
            Source::Cloud => "cloud",
            Source::None => "none",
        }
    }
}

/// A property of the engine whose value changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    State,
    Language,
    RoutingMode,
    WakeWordEnabled,
    /// Loudness of speech (`Volume`, 0–1).
    Volume,
    /// The cloud tier's state (`off`, `ready`, `open`): the breaker opened or closed.
    CloudState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    PropertyChanged(Property),
    /// The `State` property's new value (also announced as `PropertyChanged(State)`).
    StateChanged(State),
    WakeWordDetected {
        keyword: String,
        score: f64,
    },
    Transcript {
        turn: TurnId,
        text: String,
        is_final: bool,
    },
    IntentRecognized {
        turn: TurnId,
        intent: String,
        slots: BTreeMap<String, SlotValue>,
        confidence: f64,
        source: Source,
    },
    ResponseChunk {
        turn: TurnId,
        text: String,
    },
    TurnFinished {
        turn: TurnId,
        status: TurnStatus,
        response: String,
        timings: StageTimings,
    },
}
