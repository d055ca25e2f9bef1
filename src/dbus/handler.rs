//! Calls of `io.skylark.Assistant1.Handler.Handle` on the clients that registered handlers,
//! and the watch that forgets a client's handlers when it leaves the bus.

use std::pin::Pin;

use std::collections::HashMap;

use zbus::export::futures_core::Stream;
use zbus::{Connection, OwnedVariant};

use super::convert::{handler_context, places_from_data, slots_to_dbus};
use crate::engine::{
    DispatchError, DispatchFuture, Engine, HandlerAddress, HandlerCall, HandlerReply,
    IntentDispatcher,
};

pub const HANDLER_INTERFACE: &str = "io.skylark.Assistant1.Handler";

/// The engine's way to reach handlers: a method call on the bus. The engine bounds it with
/// `dbus.handler_timeout_ms` and drops it on cancel.
pub struct BusDispatcher {
    pub conn: Connection,
}

impl IntentDispatcher for BusDispatcher {
    fn dispatch(&self, handler: &HandlerAddress, call: HandlerCall) -> DispatchFuture {
        let conn = self.conn.clone();
        let handler = handler.clone();
        Box::pin(async move {
            let slots = slots_to_dbus(&call.slots);
            let context = handler_context(&call);
            let reply = conn
                .call_method(
                    Some(handler.owner.as_str()),
                    handler.object.as_str(),
                    Some(HANDLER_INTERFACE),
                    "Handle",
                    &(call.intent.as_str(), slots, context),
                )
                .await;
            let failed = |message: String| DispatchError::Failed {
                handler: handler.clone(),
                message,
            };
            match reply {
                Ok(msg) => {
                    let body = msg.body();
                    // The body's signature may print with or without the outer parentheses.
                    let signature = body.signature().to_string();
                    let reply = if signature.trim_start_matches('(').trim_end_matches(')') == "ss" {
                        let (status, speech): (String, String) =
                            body.deserialize().map_err(|e| {
                                failed(format!("Handle must return (ss) status and speech: {e}"))
                            })?;
                        HandlerReply {
                            status,
                            speech,
                            places: Vec::new(),
                        }
                    } else {
                        let (status, speech, data): (String, String, HashMap<String, OwnedVariant>) =
                            body.deserialize().map_err(|e| {
                                failed(format!(
                                    "Handle must return (ss) status and speech, or (ssa{{sv}}) with data: {e}"
                                ))
                            })?;
                        let places = places_from_data(&data, &handler);
                        HandlerReply {
                            status,
                            speech,
                            places,
                        }
                    };
                    Ok(reply)
                }
                Err(zbus::Error::FDO(e)) if is_gone(&e) => {
                    Err(DispatchError::Gone(handler.clone()))
                }
                Err(e) => Err(failed(e.to_string())),
            }
        })
    }
}

/// The handler's client is not on the bus any more (or left during the call).
fn is_gone(e: &zbus::fdo::Error) -> bool {
    matches!(
        e,
        zbus::fdo::Error::ServiceUnknown(_)
            | zbus::fdo::Error::NameHasNoOwner(_)
            | zbus::fdo::Error::NoReply(_)
    )
}

/// Forgets the handlers of every unique name that leaves the bus, until the connection ends.
pub async fn watch_departures(conn: Connection, engine: Engine) -> zbus::Result<()> {
    let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
    let mut changes = dbus.receive_name_owner_changed().await?;
    while let Some(change) = next(&mut changes).await {
        let Ok(args) = change.args() else { continue };
        if args.new_owner().is_none() && args.name().starts_with(':') {
            engine.forget_owner(args.name());
        }
    }
    Ok(())
}

/// The next item of a stream (what `StreamExt::next` does, without the dependency).
pub(crate) async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}
