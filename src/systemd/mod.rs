//! Running under systemd: readiness, status and the watchdog (`notify.rs`, sd_notify without
//! libsystemd), the engine-driven watchdog loop and status reporter (this file), and the files
//! `skylark install` puts in place (`install.rs`).
//!
//! Knows the engine's public API and the sd_notify protocol; knows nothing of D-Bus.

pub mod install;
pub mod notify;

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::engine::{Engine, Event};
pub use notify::{watchdog_timeout, Notifier, NotifyError};

/// Pings the watchdog every `timeout / 2` while the engine answers its probe
/// ([`Engine::probe`]); at most one probe is in flight, so a stalled engine costs one blocked
/// thread, and the pings stop until it answers again. Runs until the task is dropped.
pub async fn watchdog(engine: Engine, notifier: Notifier, timeout: Duration) {
    let period = (timeout / 2).max(Duration::from_millis(10));
    let mut pending: Option<tokio::task::JoinHandle<()>> = None;
    let mut late_logged = false;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(p) = &pending {
            if !p.is_finished() {
                if !late_logged {
                    tracing::error!(
                        "the engine has not answered the watchdog probe for {period:?}; \
                         no watchdog ping until it does (systemd restarts the service after WatchdogSec={timeout:?})"
                    );
                    late_logged = true;
                }
                continue;
            }
        }
        late_logged = false;
        let (engine, notifier) = (engine.clone(), notifier.clone());
        pending = Some(tokio::spawn(async move {
            if engine.probe().await.is_some() {
                notifier.watchdog();
            }
        }));
    }
}

/// Keeps `STATUS=` saying what the engine is doing (`serving on the system bus: thinking`),
/// from its state-change events. Runs until the engine is gone.
pub async fn report_status(engine: Engine, notifier: Notifier, prefix: String) {
    let mut events = engine.subscribe();
    notifier.status(&format!("{prefix}: {}", engine.state().as_str()));
    loop {
        match events.recv().await {
            Ok(Event::StateChanged(state)) => {
                notifier.status(&format!("{prefix}: {}", state.as_str()))
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}
