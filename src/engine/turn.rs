//! Turns: one request of a user (a sentence to act on, a text to say) from start to finish.
//!
//! A turn moves through stages (listening → thinking → speaking) and ends with a
//! [`TurnStatus`]. Every turn is cancellable through its [`CancelToken`], and records how long
//! each stage took ([`StageTimings`]) so a slow turn can be explained.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// A turn's number, unique for the life of the engine, starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TurnId(pub u64);

impl fmt::Display for TurnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What started a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnKind {
    /// `Ask`: recognise a sentence, act on it, answer.
    Ask,
    /// `Speak`: say a given text.
    Speak,
    /// `StartListening`: capture speech, then as `Ask`.
    Listen,
}

/// The engine's state as the `State` property shows it: the most "audible" stage of any
/// running turn (listening before speaking before thinking), `Idle` when none runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Idle,
    Thinking,
    Speaking,
    Listening,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Listening => "listening",
            State::Thinking => "thinking",
            State::Speaking => "speaking",
        }
    }
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnStatus {
    /// Done: the intent was handled (or its default response given), or the text was said.
    Ok,
    /// Nothing in the grammar (or the models) understood the sentence.
    NoIntent,
    /// `Cancel`, a newer turn on the same audio path, or shutdown stopped it.
    Cancelled,
    /// A stage or the intent's handler failed.
    Failed,
    /// The intent's handler did not answer within `dbus.handler_timeout_ms`.
    Timeout,
}

impl TurnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Ok => "ok",
            TurnStatus::NoIntent => "no_intent",
            TurnStatus::Cancelled => "cancelled",
            TurnStatus::Failed => "failed",
            TurnStatus::Timeout => "timeout",
        }
    }
}

/// How long each stage of a turn took. `None`: the turn did not reach that stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageTimings {
    /// Waiting for the caller's reply to be sent (D-Bus) before the work starts.
    pub queued: Option<Duration>,
    /// Listening: from the start of capture to the end of speech.
    pub capture: Option<Duration>,
    /// The final speech recognition (end of speech → final transcript).
    pub transcribe: Option<Duration>,
    pub recognize: Option<Duration>,
    pub handler: Option<Duration>,
    pub speak: Option<Duration>,
    pub total: Duration,
}

/// A finished turn, kept (a bounded number of them) for statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRecord {
    pub id: TurnId,
    pub kind: TurnKind,
    pub status: TurnStatus,
    pub intent: Option<String>,
    pub timings: StageTimings,
}

/// Cancellation of one turn: a flag that blocking stages (synthesis, recognition) poll, and a
/// notification that async stages await.
#[derive(Debug, Default)]
pub struct CancelToken {
    flag: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The raw flag, for blocking stages that poll it (the LLM checks it between tokens).
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Resolves once [`CancelToken::cancel`] was called (at once if it already was).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag so a cancel between the two is not lost.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn cancel_wakes_a_waiter_and_is_sticky() {
        let t = Arc::new(CancelToken::new());
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.cancelled().await });
        tokio::task::yield_now().await;
        t.cancel();
        waiter.await.unwrap();
        assert!(t.is_cancelled());
        t.cancelled().await; // already cancelled: returns at once
    }

    #[test]
    fn state_order_puts_audio_first() {
        let mut v = [
            State::Thinking,
            State::Listening,
            State::Speaking,
            State::Idle,
        ];
        v.sort();
        assert_eq!(v.last(), Some(&State::Listening));
        assert_eq!(TurnStatus::NoIntent.as_str(), "no_intent");
    }
}
