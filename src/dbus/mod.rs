//! The D-Bus service `io.skylark.Assistant1` — the only module that knows zbus.
//!
//! [`Service::start`] connects to the bus, serves the interface ([`interface::Assistant`])
//! at `/io/skylark/Assistant1`, owns the name, lets the engine call handlers over the bus
//! ([`handler::BusDispatcher`]), forgets the handlers of clients that leave, and turns engine
//! events into signals and `PropertiesChanged`. The contract is DESIGN.md § D-Bus API; its
//! introspection is installed as `systemd/io.skylark.Assistant1.xml`.

pub mod client;
mod convert;
mod error;
mod handler;
mod interface;
pub mod usage;

pub use error::{MethodError, ServiceError};
pub use interface::{Limits, INTERFACE};

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, Variant};

use crate::engine::{Engine, Event, Property};
use convert::{slots_to_dbus, turn_path};
use interface::Assistant;

/// The well-known name.
pub const NAME: &str = "io.skylark.Assistant1";
/// The object the interface is served at.
pub const PATH: &str = "/io/skylark/Assistant1";

/// Which bus to serve on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Session,
    System,
}

impl Bus {
    pub fn as_str(self) -> &'static str {
        match self {
            Bus::Session => "session",
            Bus::System => "system",
        }
    }
}

/// A running service. Dropping it closes the connection (and so releases the name).
pub struct Service {
    conn: Connection,
    bus: Bus,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Turns engine events into signals; flushed and awaited at stop.
    forwarder: tokio::task::JoinHandle<()>,
    flush: tokio::sync::oneshot::Sender<()>,
    closed: tokio::sync::watch::Receiver<bool>,
}

impl Service {
    /// Connects, serves the interface and owns the name. Must run inside a Tokio runtime.
    pub async fn start(engine: Engine, bus: Bus, limits: Limits) -> Result<Service, ServiceError> {
        let b = bus.as_str();
        let builder = match bus {
            Bus::Session => {
                let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default();
                if address.trim().is_empty() {
                    return Err(ServiceError::NoSessionBus {
                        why: "DBUS_SESSION_BUS_ADDRESS is not set".into(),
                    });
                }
                zbus::connection::Builder::session()
            }
            Bus::System => zbus::connection::Builder::system(),
        };
        let conn = builder
            .serve_at(PATH, Assistant::new(engine.clone(), limits))
            .build()
            .await
            .map_err(|source| match (bus, &source) {
                (
                    Bus::Session,
                    zbus::Error::Connection(..)
                    | zbus::Error::InputOutput(_)
                    | zbus::Error::Address(_),
                ) => ServiceError::NoSessionBus {
                    why: source.to_string(),
                },
                _ => ServiceError::Connect { bus: b, source },
            })?;
        engine.set_dispatcher(Arc::new(handler::BusDispatcher { conn: conn.clone() }));
        // Subscribe before owning the name, so no event of a first call is missed.
        let events = engine.subscribe();
        let (flush, flush_rx) = tokio::sync::oneshot::channel();
        let forwarder = tokio::spawn(forward_events(conn.clone(), events, flush_rx));
        let mut tasks = Vec::new();
        let watch_conn = conn.clone();
        let watch_engine = engine.clone();
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        tasks.push(tokio::spawn(async move {
            // The stream of NameOwnerChanged ends when the connection does.
            if let Err(e) = handler::watch_departures(watch_conn, watch_engine).await {
                tracing::error!("cannot watch clients leaving the bus (their handlers will not be forgotten): {e}");
                return;
            }
            let _ = closed_tx.send(true);
        }));
        let flags = zbus::fdo::RequestNameFlags::DO_NOT_QUEUE;
        match conn.request_name_with_flags(NAME, flags).await {
            Ok(
                zbus::fdo::RequestNameReply::PrimaryOwner
                | zbus::fdo::RequestNameReply::AlreadyOwner,
            ) => {}
            Ok(_) | Err(zbus::Error::NameTaken) => {
                return Err(ServiceError::NameTaken { name: NAME, bus: b })
            }
            Err(source @ zbus::Error::FDO(_)) => {
                return Err(ServiceError::NameDenied {
                    name: NAME,
                    bus: b,
                    source,
                })
            }
            Err(source) => return Err(ServiceError::Bus { bus: b, source }),
        }
        tracing::info!(bus = b, name = NAME, unique = ?conn.unique_name().map(|n| n.to_string()), "serving");
        Ok(Service {
            conn,
            bus,
            tasks,
            forwarder,
            flush,
            closed,
        })
    }

    pub fn bus(&self) -> Bus {
        self.bus
    }

    /// Resolves when the bus connection is gone (the bus stopped or dropped us).
    pub async fn closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }

    /// Releases the name and closes the connection.
    pub async fn stop(self) {
        // Signals the engine emitted before the stop (TurnFinished of the turns cancelled by
        // the shutdown) still go out, within a bound.
        let _ = self.flush.send(());
        let forwarder = self.forwarder;
        if tokio::time::timeout(std::time::Duration::from_millis(500), forwarder)
            .await
            .is_err()
        {
            tracing::warn!("signals still pending at stop were dropped");
        }
        let connected = !*self.closed.borrow();
        if !connected {
            // The bus is gone, and the name with it.
        } else if let Err(e) = self.conn.release_name(NAME).await {
            tracing::warn!("could not release {NAME}: {e}");
        }
        for t in &self.tasks {
            t.abort();
        }
        drop(self.conn);
    }
}

/// Turns engine events into signals, in order, until the engine is gone.
async fn forward_events(
    conn: Connection,
    mut events: tokio::sync::broadcast::Receiver<Event>,
    mut flush: tokio::sync::oneshot::Receiver<()>,
) {
    let emitter = match SignalEmitter::new(&conn, PATH) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot emit signals at {PATH}: {e}");
            return;
        }
    };
    loop {
        let received = tokio::select! {
            biased;
            r = events.recv() => r,
            _ = &mut flush => {
                // Stopping: send what the engine said so far (the final TurnFinished of
                // cancelled turns), then end.
                while let Ok(event) = events.try_recv() {
                    if let Err(e) = emit(&emitter, event).await {
                        tracing::warn!("could not emit a signal: {e}");
                    }
                }
                return;
            }
        };
        let event = match received {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    "{n} engine events were not sent as signals: the bus is slower than the engine"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = emit(&emitter, event).await {
            tracing::warn!("could not emit a signal: {e}");
        }
    }
}

async fn emit(emitter: &SignalEmitter<'_>, event: Event) -> zbus::Result<()> {
    match event {
        Event::StateChanged(state) => {
            let mut changed = HashMap::new();
            changed.insert("State", Variant::from(state.as_str()));
            zbus::fdo::Properties::properties_changed(
                emitter,
                InterfaceName::from_static_str_unchecked(INTERFACE),
                changed,
                Cow::Borrowed(&[]),
            )
            .await
        }
        // The breaker opened or closed: clients re-read it (no value: `Get` has it).
        Event::PropertyChanged(Property::CloudState) => {
            zbus::fdo::Properties::properties_changed(
                emitter,
                InterfaceName::from_static_str_unchecked(INTERFACE),
                HashMap::new(),
                Cow::Borrowed(&["CloudState"]),
            )
            .await
        }
        // State is sent with its value above. Language, RoutingMode, WakeWordEnabled and Volume change
        // only through their D-Bus setters here, which emit PropertiesChanged themselves.
        Event::PropertyChanged(
            Property::State
            | Property::Language
            | Property::RoutingMode
            | Property::WakeWordEnabled
            | Property::Volume,
        ) => Ok(()),
        Event::WakeWordDetected { keyword, score } => {
            Assistant::wake_word_detected(emitter, &keyword, score).await
        }
        Event::Transcript {
            turn,
            text,
            is_final,
        } => Assistant::transcript(emitter, turn_path(turn).as_ref(), &text, is_final).await,
        Event::IntentRecognized {
            turn,
            intent,
            slots,
            confidence,
            source,
        } => {
            Assistant::intent_recognized(
                emitter,
                turn_path(turn).as_ref(),
                &intent,
                slots_to_dbus(&slots),
                confidence,
                source.as_str(),
            )
            .await
        }
        Event::ResponseChunk { turn, text } => {
            Assistant::response_chunk(emitter, turn_path(turn).as_ref(), &text).await
        }
        Event::TurnFinished {
            turn,
            status,
            response,
            record,
        } => {
            let path = turn_path(turn);
            Assistant::turn_finished(emitter, path.as_ref(), status.as_str(), &response).await?;
            let trace = usage::trace_to_dbus(&record);
            Assistant::turn_trace(emitter, path.as_ref(), trace).await
        }
    }
}
