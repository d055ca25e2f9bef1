//! What the engine tells its adapters, on a broadcast channel: the D-Bus service turns each
//! event into a signal or a `PropertiesChanged`, the CLI prints them.

use std::collections::BTreeMap;

use super::turn::{State, TurnId, TurnRecord, TurnStatus};
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

/// Which tier understood (or answered) a turn: finer than [`Source`], for the turn's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The grammar's exact match.
    Grammar,
    /// The grammar's tolerant match of what speech recognition heard (`nlu.tolerant`).
    Tolerant,
    /// The semantic tier (nearest grammar sentences by meaning).
    Semantic,
    /// The lite LLM: an intent, or an answer.
    Llm,
    Cloud,
    /// Nothing understood it.
    None,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Grammar => "grammar",
            Tier::Tolerant => "tolerant",
            Tier::Semantic => "semantic",
            Tier::Llm => "llm",
            Tier::Cloud => "cloud",
            Tier::None => "none",
        }
    }

    /// The contract's source: grammar (exact or tolerant), llm (the device's models), cloud,
    /// none.
    pub fn source(self) -> Source {
        match self {
            Tier::Grammar | Tier::Tolerant => Source::Grammar,
            Tier::Semantic | Tier::Llm => Source::Llm,
            Tier::Cloud => Source::Cloud,
            Tier::None => Source::None,
        }
    }

    /// The tier of a turn known only by its source.
    pub fn of_source(source: Source) -> Tier {
        match source {
            Source::Grammar => Tier::Grammar,
            Source::Llm => Tier::Llm,
            Source::Cloud => Tier::Cloud,
            Source::None => Tier::None,
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
        /// The turn's record and trace (also kept for `Engine::recent_turns`).
        record: Box<TurnRecord>,
    },
}
