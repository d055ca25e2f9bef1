//! Understanding: sentence → intent with slots, from hassil-compatible template grammars.
//!
//! The functional core of skylark's "understand" stage: pure, no I/O beyond loading grammar
//! files, microseconds per sentence. [`Grammar`] loads Home Assistant / hassil YAML (the
//! built-in cockpit catalog is embedded), [`Recognizer`] compiles it and matches sentences,
//! [`DialogueContext`] carries what the caller knows (previous turn, vehicle state) so that
//! follow-ups such as "a bit warmer" / "再高一点" resolve against the previous turn.
//!
//! This module knows nothing about audio, models, D-Bus or the CLI; adapters print or send
//! the [`IntentMatch`] it returns.

pub mod catalog;
mod choice;
mod compile;
mod emit;
mod error;
pub(crate) mod forms;
mod glue;
mod grammar;
mod hash;
mod language;
mod lists;
mod matcher;
pub mod normalize;
pub mod numbers;
mod paths;
mod phonetic;
mod recognizer;
mod samples;
mod schema;
mod similar;
mod stated;
pub mod template;
mod tolerant;
mod yaml;
mod yaml_fast;

pub use choice::{choose, Place, PLACES_OFFERED};
pub use error::{Location, NluError, Result};
pub use grammar::Grammar;
pub use language::Language;
pub use paths::NextWords;
pub use recognizer::{Recognizer, DEFAULT_TOLERANT_THRESHOLD};
pub use samples::Sample;
pub use schema::{IntentCatalog, IntentSchema, SlotKind, SlotSchema};
pub use similar::SimilarityIndex;
pub use stated::StatedSlots;
pub use tolerant::confidence as tolerant_confidence;
pub use tolerant::Closest;

use serde::Serialize;
use std::collections::BTreeMap;

/// A slot's value: the list's `out` value, a number from a range, or wildcard text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SlotValue {
    Integer(i64),
    Number(f64),
    Bool(bool),
    Text(String),
    List(Vec<SlotValue>),
}

impl SlotValue {
    /// A number, as an integer when it is one (so JSON shows `22`, not `22.0`).
    pub fn number(v: f64) -> SlotValue {
        let v = (v * 1e6).round() / 1e6;
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 9e15 {
            SlotValue::Integer(v as i64)
        } else {
            SlotValue::Number(v)
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SlotValue::Integer(i) => Some(*i as f64),
            SlotValue::Number(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            SlotValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for SlotValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotValue::Integer(i) => write!(f, "{i}"),
            SlotValue::Number(n) => write!(f, "{n}"),
            SlotValue::Bool(b) => write!(f, "{b}"),
            SlotValue::Text(s) => f.write_str(s),
            SlotValue::List(items) => {
                let parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
                f.write_str(&parts.join(", "))
            }
        }
    }
}

/// The result of understanding one sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentMatch {
    pub intent: String,
    /// Slot values: the list's `out` value (numbers as numbers), fixed `slots:` of the
    /// matched block, and context values copied in by `requires_context`.
    pub slots: BTreeMap<String, SlotValue>,
    /// The words that filled each slot, as said (after width and script folding).
    pub slot_text: BTreeMap<String, String>,
    /// 1.0 when every word matched the template literally; lower as wildcards take words.
    pub confidence: f64,
    /// The template (sentence line of the grammar) that matched.
    pub template: String,
    /// The block's `metadata`, overridden by matched list values' `metadata` (VSS paths).
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The intent's default (or the block's `response:`) spoken response, slots filled in.
    pub response: Option<String>,
    pub language: Language,
}

impl IntentMatch {
    /// The command line's JSONL line: `{"text","intent","slots","confidence","source"}`.
    pub fn to_contract_json(&self, text: &str) -> serde_json::Value {
        serde_json::json!({
            "text": text,
            "intent": self.intent,
            "slots": self.slots,
            "confidence": self.confidence,
            "source": "grammar",
        })
    }

    /// The intent's domain: `climate` for `climate.set_temperature`.
    pub fn domain(&self) -> &str {
        self.intent.split('.').next().unwrap_or(&self.intent)
    }
}

/// The previous turn, remembered for follow-ups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreviousTurn {
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
}

/// What the caller knows around the sentence, passed to every `recognize` call.
///
/// Templates see it through hassil's `requires_context` / `excludes_context`: `values` as
/// given, plus `previous_intent` (`climate.set_temperature`) and `previous_domain`
/// (`climate`) from the previous turn. That is how "再高一点" means a warmer cabin after a
/// temperature command and a louder one after a volume command.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DialogueContext {
    pub values: BTreeMap<String, String>,
    pub previous: Option<PreviousTurn>,
    /// Places a handler offered for the last search (best first), for "the second one";
    /// while there are some, the context value `places` is `offered`.
    pub places: Vec<Place>,
}

impl DialogueContext {
    pub fn new() -> DialogueContext {
        DialogueContext::default()
    }

    /// Adds a context value (for example `area` = `driver`).
    pub fn with_value(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> DialogueContext {
        self.values.insert(key.into(), value.into());
        self
    }

    /// A context whose previous turn is `m`.
    pub fn after(m: &IntentMatch) -> DialogueContext {
        let mut c = DialogueContext::new();
        c.remember(m);
        c
    }

    /// Makes `m` the previous turn. Offered places survive only navigation turns ("the
    /// second one", then "no, the cheaper one"); a new search or another domain forgets them.
    pub fn remember(&mut self, m: &IntentMatch) {
        if m.intent == "navigation.search_nearby" || m.domain() != "navigation" {
            self.places.clear();
        }
        self.previous = Some(PreviousTurn {
            intent: m.intent.clone(),
            slots: m.slots.clone(),
        });
    }

    /// A context value by key, including the derived `previous_intent` / `previous_domain`.
    pub fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.values.get(key) {
            return Some(v);
        }
        if key == "places" && !self.places.is_empty() {
            return Some(PLACES_OFFERED);
        }
        let prev = self.previous.as_ref()?;
        match key {
            "previous_intent" => Some(&prev.intent),
            "previous_domain" => prev.intent.split('.').next(),
            _ => None,
        }
    }
}

/// For the fuzz target `grammar_yaml` (`crate::fuzzing`): wherever the fast YAML reader
/// answers, yaml-rust2 must read the same tree (positions and depth limit included).
#[doc(hidden)]
pub fn yaml_agreement(text: &str) {
    if let Some(fast) = yaml_fast::parse(text) {
        match yaml::parse_events(text) {
            Ok(full) => assert_eq!(
                format!("{fast:?}"),
                format!("{full:?}"),
                "the fast YAML reader and yaml-rust2 read different trees"
            ),
            Err(e) => panic!(
                "the fast YAML reader accepted what yaml-rust2 refuses at {:?}: {}",
                e.pos, e.message
            ),
        }
    }
}
