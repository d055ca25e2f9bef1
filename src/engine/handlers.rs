//! Intent handlers: the services (climate, media, phone, …) that act on an intent and answer
//! with the text to speak.
//!
//! The engine keeps which handler serves which intent ([`HandlerRegistry`]) and calls it
//! through an [`IntentDispatcher`], which the adapter implements (the D-Bus service calls
//! `io.skylark.Assistant1.Handler.Handle` on the client's object). The engine never knows the
//! transport; it only knows the handler's address.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

use super::error::EngineError;
use super::turn::TurnId;
use crate::nlu::{Place, SlotValue};

/// Where a handler lives: its owner's (unique) bus name and its object path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerAddress {
    pub owner: String,
    pub object: String,
}

impl std::fmt::Display for HandlerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.owner, self.object)
    }
}

/// One call of a handler.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerCall {
    pub turn: TurnId,
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
    /// The sentence as the user said it.
    pub text: String,
    /// BCP-47 tag (`en`, `zh-CN`).
    pub language: String,
    pub confidence: f64,
    pub source: &'static str,
    /// The grammar's metadata (e.g. `vss_path`).
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// A handler's answer: `status` (`ok`, or `failed`), the text to speak and, for a search,
/// the places it found (best first; the reply's `data["results"]` on D-Bus).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HandlerReply {
    pub status: String,
    pub speech: String,
    pub places: Vec<Place>,
}

/// Why a handler call did not give a reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DispatchError {
    /// The handler's owner left the bus (before or during the call).
    #[error("handler {0} is gone")]
    Gone(HandlerAddress),
    /// The handler answered with an error, or the call failed.
    #[error("handler {handler} failed: {message}")]
    Failed {
        handler: HandlerAddress,
        message: String,
    },
}

pub type DispatchFuture = Pin<Box<dyn Future<Output = Result<HandlerReply, DispatchError>> + Send>>;

/// Calls a handler. Implemented by the adapter that knows the transport. The engine bounds
/// the call with its own timeout and drops the future on cancel.
pub trait IntentDispatcher: Send + Sync {
    fn dispatch(&self, handler: &HandlerAddress, call: HandlerCall) -> DispatchFuture;
}

/// Which handler serves which intent. One handler per intent; a client can re-register its
/// own objects, but not take another client's intents.
#[derive(Debug, Default)]
pub struct HandlerRegistry {
    by_intent: HashMap<String, HandlerAddress>,
    intents_of: BTreeMap<HandlerAddress, Vec<String>>,
}

impl HandlerRegistry {
    pub fn new() -> HandlerRegistry {
        HandlerRegistry::default()
    }

    pub fn len(&self) -> usize {
        self.intents_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.intents_of.is_empty()
    }

    /// The handler serving `intent`.
    pub fn lookup(&self, intent: &str) -> Option<&HandlerAddress> {
        self.by_intent.get(intent)
    }

    /// `handler` serves `intents` from now on (replacing what it served before). Fails with
    /// `AccessDenied` if another client's handler serves one of them, and with `Busy` past
    /// `max_handlers`.
    pub fn register(
        &mut self,
        handler: HandlerAddress,
        intents: Vec<String>,
        max_handlers: usize,
    ) -> Result<(), EngineError> {
        for intent in &intents {
            if let Some(other) = self.by_intent.get(intent) {
                if other.owner != handler.owner {
                    return Err(EngineError::AccessDenied(format!(
                        "intent {intent} is already handled by {other}; that client must call UnregisterHandler first"
                    )));
                }
            }
        }
        if !self.intents_of.contains_key(&handler) && self.intents_of.len() >= max_handlers {
            return Err(EngineError::Busy(format!(
                "{} handlers are registered, the limit (dbus.max_handlers); unregister one first",
                self.intents_of.len()
            )));
        }
        self.remove(&handler);
        for intent in &intents {
            if let Some(previous) = self.by_intent.insert(intent.clone(), handler.clone()) {
                // Same owner, another object: that object no longer serves this intent.
                if let Some(list) = self.intents_of.get_mut(&previous) {
                    list.retain(|i| i != intent);
                }
            }
        }
        self.intents_of.retain(|_, list| !list.is_empty());
        self.intents_of.insert(handler, intents);
        Ok(())
    }

    /// Removes `handler`; returns whether it was registered.
    pub fn remove(&mut self, handler: &HandlerAddress) -> bool {
        let Some(intents) = self.intents_of.remove(handler) else {
            return false;
        };
        for intent in intents {
            if self.by_intent.get(&intent) == Some(handler) {
                self.by_intent.remove(&intent);
            }
        }
        true
    }

    /// Removes every handler of `owner` (its bus name vanished); returns how many.
    pub fn remove_owner(&mut self, owner: &str) -> usize {
        let gone: Vec<HandlerAddress> = self
            .intents_of
            .keys()
            .filter(|h| h.owner == owner)
            .cloned()
            .collect();
        for h in &gone {
            self.remove(h);
        }
        gone.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(owner: &str, object: &str) -> HandlerAddress {
        HandlerAddress {
            owner: owner.into(),
            object: object.into(),
        }
    }

    #[test]
    fn register_lookup_and_forget_owner() {
        let mut r = HandlerRegistry::new();
        r.register(
            addr(":1.5", "/climate"),
            vec!["climate.set_temperature".into()],
            8,
        )
        .unwrap();
        assert_eq!(
            r.lookup("climate.set_temperature"),
            Some(&addr(":1.5", "/climate"))
        );
        let err = r
            .register(
                addr(":1.6", "/x"),
                vec!["climate.set_temperature".into()],
                8,
            )
            .unwrap_err();
        assert!(matches!(err, EngineError::AccessDenied(_)), "{err:?}");
        // The same owner may move the intent to another object.
        r.register(
            addr(":1.5", "/climate2"),
            vec!["climate.set_temperature".into()],
            8,
        )
        .unwrap();
        assert_eq!(
            r.lookup("climate.set_temperature"),
            Some(&addr(":1.5", "/climate2"))
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.remove_owner(":1.5"), 1);
        assert!(r.lookup("climate.set_temperature").is_none());
        assert!(r.is_empty());
    }

    #[test]
    fn limit_on_handlers() {
        let mut r = HandlerRegistry::new();
        r.register(addr(":1.1", "/a"), vec!["media.play".into()], 1)
            .unwrap();
        let err = r
            .register(addr(":1.2", "/b"), vec!["media.pause".into()], 1)
            .unwrap_err();
        assert!(matches!(err, EngineError::Busy(_)));
        // Re-registering an existing handler is not a new one.
        r.register(addr(":1.1", "/a"), vec!["media.next".into()], 1)
            .unwrap();
        assert!(r.lookup("media.play").is_none());
        assert!(r.lookup("media.next").is_some());
    }
}

/// A handler's reply as the daemon will broadcast and speak it: control characters (terminal
/// escape codes, NULs, bidirectional overrides) dropped, line breaks and tabs made spaces,
/// at most `max_bytes` long (cut at a character boundary).
pub(super) fn sanitize_speech(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        let c = match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => continue,
            // Bidirectional embeddings, overrides and isolates can reorder what is shown.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => continue,
            c => c,
        };
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod sanitize_tests {
    use super::sanitize_speech;

    #[test]
    fn replies_lose_control_characters_and_are_capped() {
        assert_eq!(
            sanitize_speech("\u{1b}[31mred\u{1b}[0m\nok\u{0}", 100),
            "[31mred[0m ok"
        );
        assert_eq!(sanitize_speech("\u{202e}abc", 100), "abc");
        let long = "好".repeat(10_000);
        let capped = sanitize_speech(&long, 4096);
        assert!(
            capped.len() <= 4096 && capped.len() > 4090,
            "{}",
            capped.len()
        );
        assert_eq!(sanitize_speech("", 10), "");
    }
}
