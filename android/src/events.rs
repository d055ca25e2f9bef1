//! A turn's events to its Java listener: one thread per turn reads the engine's broadcast,
//! keeps the events of its turn, and calls `io.skylark.TurnBridge.deliver(turn, kind, a, b)`
//! for each, in order, until the turn finishes. The thread attaches itself to the JVM (jni
//! detaches it when the thread ends). The turns the wake word starts go, in the same way, to the
//! wake listener, from one thread for all of them ([`forward_wake_turns`]).

use std::sync::{Arc, Mutex};

use jni::objects::{Global, JObject, JValue};
use jni::{jni_sig, jni_str, Env, JavaVM};
use skylark::engine::{Event, Recognition, TurnId, TurnStatus};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use crate::policy::BindingError;

/// `kind` values of `TurnBridge.deliver` (Java mirrors them).
const TRANSCRIPT: i32 = 0;
const INTENT: i32 = 1;
const RESPONSE_CHUNK: i32 = 2;
const FINISHED: i32 = 3;
const ERROR: i32 = 4;
const WAKE_WORD: i32 = 5;

/// The Java `TurnBridge` of one turn, callable from any thread.
pub struct Bridge {
    vm: JavaVM,
    target: Global<JObject<'static>>,
}

impl Bridge {
    pub fn new(env: &mut Env, bridge: &JObject) -> Result<Bridge, BindingError> {
        if bridge.is_null() {
            return Err(BindingError::Skylark("listener is null".into()));
        }
        Ok(Bridge {
            vm: env.get_java_vm()?,
            target: env.new_global_ref(bridge)?,
        })
    }

    /// One callback. A Java exception it throws is cleared and logged: a listener's failure
    /// never stops the turn nor the next callbacks.
    fn deliver(&self, turn: TurnId, kind: i32, a: &str, b: &str) {
        let result = self
            .vm
            .attach_current_thread(|env| -> Result<(), jni::errors::Error> {
                let a = env.new_string(a)?;
                let b = env.new_string(b)?;
                env.call_method(
                    &self.target,
                    jni_str!("deliver"),
                    jni_sig!("(JILjava/lang/String;Ljava/lang/String;)V"),
                    &[
                        JValue::Long(turn.0 as i64),
                        JValue::Int(kind),
                        JValue::Object(&a),
                        JValue::Object(&b),
                    ],
                )?;
                Ok(())
            });
        if let Err(e) = result {
            tracing::warn!(turn = turn.0, kind, "a turn listener failed: {e}");
        }
    }
}

/// Starts the thread that delivers turn `turn`'s events from `receiver` (subscribed before the
/// turn started) to `bridge`.
pub fn forward(
    mut receiver: Receiver<Event>,
    turn: TurnId,
    bridge: Bridge,
) -> Result<(), BindingError> {
    std::thread::Builder::new()
        .name(format!("skylark-turn-{}", turn.0))
        .spawn(move || {
            // A panic here must not unwind into an attached JVM thread's frames.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                deliver_all(&mut receiver, turn, &bridge);
            }));
        })
        .map_err(|e| BindingError::Skylark(format!("cannot start the listener thread: {e}")))?;
    Ok(())
}

/// The listener of the turns the wake word starts (`Assistant.setWakeListener`); `None`: those
/// turns run unheard.
pub type WakeListener = Arc<Mutex<Option<Arc<Bridge>>>>;

/// A wake word the engine's wake-word loop heard, and the turn it started.
pub struct Woken {
    pub keyword: String,
    pub score: f32,
    pub turn: TurnId,
}

/// Starts the thread that delivers the turns the wake word starts: for each one `woken` names,
/// `onWakeWord` then the turn's events, from `receiver` (subscribed before the wake-word loop
/// started, so none is missed), to the wake listener of the moment. Ends when the loop ends
/// (`woken` closes) or the engine does.
pub fn forward_wake_turns(
    mut receiver: Receiver<Event>,
    woken: std::sync::mpsc::Receiver<Woken>,
    listener: WakeListener,
) -> Result<(), BindingError> {
    std::thread::Builder::new()
        .name("skylark-wake-turns".into())
        .spawn(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                while let Ok(w) = woken.recv() {
                    let bridge = listener.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let Some(bridge) = bridge else {
                        tracing::info!(turn = w.turn.0, "a wake-word turn with no listener");
                        continue;
                    };
                    bridge.deliver(w.turn, WAKE_WORD, &w.keyword, &w.score.to_string());
                    if !deliver_all(&mut receiver, w.turn, &bridge) {
                        return;
                    }
                }
            }));
        })
        .map_err(|e| BindingError::Skylark(format!("cannot start the wake-word thread: {e}")))?;
    Ok(())
}

/// Delivers turn `turn`'s events until it finishes; false when the engine is gone.
fn deliver_all(receiver: &mut Receiver<Event>, turn: TurnId, bridge: &Bridge) -> bool {
    loop {
        let event = match receiver.blocking_recv() {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(turn = turn.0, missed = n, "a turn listener fell behind");
                continue;
            }
            // The assistant was closed before the turn finished.
            Err(RecvError::Closed) => {
                bridge.deliver(turn, FINISHED, TurnStatus::Cancelled.as_str(), "");
                return false;
            }
        };
        match event {
            Event::Transcript {
                turn: t,
                text,
                is_final,
            } if t == turn => {
                let stage = if is_final { "final" } else { "partial" };
                bridge.deliver(turn, TRANSCRIPT, &text, stage);
            }
            Event::IntentRecognized {
                turn: t,
                intent,
                slots,
                confidence,
                source,
            } if t == turn => {
                let r = Recognition {
                    intent,
                    slots,
                    confidence,
                    source,
                };
                bridge.deliver(turn, INTENT, &crate::handle::encode(&r), "");
            }
            Event::ResponseChunk { turn: t, text } if t == turn => {
                bridge.deliver(turn, RESPONSE_CHUNK, &text, "");
            }
            Event::TurnFinished {
                turn: t,
                status,
                response,
                ..
            } if t == turn => {
                if matches!(status, TurnStatus::Failed | TurnStatus::Timeout) {
                    bridge.deliver(turn, ERROR, &response, status.as_str());
                }
                bridge.deliver(turn, FINISHED, status.as_str(), &response);
                return true;
            }
            _ => {}
        }
    }
}
