//! Liveness of the engine, for the service manager's watchdog.
//!
//! A live thread proves nothing; the watchdog must see the engine itself answer. [`Engine::probe`]
//! makes the round trip every turn makes: from the async runtime to a blocking thread, through
//! the engine's state lock (the one `begin_turn`, state changes and the end of every turn take),
//! and back to the runtime. If the runtime is wedged, the blocking pool is exhausted or the
//! state is locked forever, the probe does not come back and the daemon stops pinging.

use std::sync::Arc;

use super::{Engine, State};

/// What the probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub state: State,
    pub active_turns: usize,
}

/// The environment variable of the test hook that stalls the engine (see [`Engine::stall`]).
pub const STALL_HOOK: &str = "SKYLARK_TEST_STALL_ENGINE";

impl Engine {
    /// One round trip through the engine's state machinery. Resolves to `None` if the blocking
    /// thread could not run (the runtime is shutting down). Never resolves if the engine is
    /// stalled: callers bound it and keep at most one probe in flight.
    pub async fn probe(&self) -> Option<Health> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let s = inner.shared();
            Health {
                state: s.state,
                active_turns: s.active.len(),
            }
        })
        .await
        .ok()
    }

    /// Test hook, not API: takes the engine's state lock and never gives it back, as a
    /// deadlocked engine would. The daemon calls it only when `SKYLARK_TEST_STALL_ENGINE` is set
    /// (tests/systemd_notify.rs checks that the watchdog pings stop); nothing else does.
    /// Returns once the lock is held.
    #[doc(hidden)]
    pub fn stall(&self) {
        let inner = Arc::clone(&self.inner);
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("skylark-stall".into())
            .spawn(move || {
                let _held = inner.shared();
                tracing::warn!("{STALL_HOOK}: the engine's state is locked for good (test hook)");
                let _ = held_tx.send(());
                loop {
                    std::thread::park();
                }
            });
        if spawned.is_ok() {
            let _ = held_rx.recv();
        }
    }
}
