//! zbus clients of the daemon for the tests and benches that need many calls fast (busctl
//! and gdbus cost a process a call): calls with their errors as `NAME: message`, turns,
//! signals and `Transcribe` with a real descriptor.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use zbus::OwnedVariant;

use super::{IFACE, NAME, PATH};

pub type Options = HashMap<String, OwnedVariant>;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn connect(bus: &str) -> zbus::Connection {
    zbus::connection::Builder::address(bus)
        .build()
        .await
        .expect("connect to the private bus")
}

/// A method error as `NAME: message`, anything else as its text.
pub fn error_text(e: zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, msg, _) => format!("{name}: {}", msg.unwrap_or_default()),
        other => other.to_string(),
    }
}

pub async fn call<B>(
    conn: &zbus::Connection,
    method: &str,
    body: &B,
) -> Result<zbus::Message, String>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    conn.call_method(Some(NAME), PATH, Some(IFACE), method, body)
        .await
        .map_err(error_text)
}

/// A string option as a variant.
pub fn string_option(value: &str) -> OwnedVariant {
    OwnedVariant::try_from(zbus::Variant::from(value)).expect("variant")
}

/// Options with `language` when given.
fn language_options(language: Option<&str>) -> Options {
    let mut options = Options::new();
    if let Some(l) = language {
        options.insert("language".into(), string_option(l));
    }
    options
}

/// `Recognize(text)` in `language` (`None`: the daemon's): the intent.
pub async fn recognize(
    conn: &zbus::Connection,
    text: &str,
    language: Option<&str>,
) -> Result<String, String> {
    let reply = call(conn, "Recognize", &(text, language_options(language))).await?;
    let (intent, _slots, _c, _source): (String, Options, f64, String) =
        reply.body().deserialize().map_err(error_text)?;
    Ok(intent)
}

/// `Ask(text, speak=false)` in `language`: the turn path.
pub async fn ask(
    conn: &zbus::Connection,
    text: &str,
    language: Option<&str>,
) -> Result<String, String> {
    let mut options = language_options(language);
    options.insert(
        "speak".into(),
        OwnedVariant::try_from(zbus::Variant::from(false)).expect("variant"),
    );
    let reply = call(conn, "Ask", &(text, options)).await?;
    let turn: zbus::OwnedObjectPath = reply.body().deserialize().map_err(error_text)?;
    Ok(turn.to_string())
}

pub async fn cancel(conn: &zbus::Connection, turn: &str) -> Result<(), String> {
    let path = zbus::ObjectPath::try_from(turn).map_err(|e| e.to_string())?;
    call(conn, "Cancel", &(path,)).await.map(|_| ())
}

pub async fn state(conn: &zbus::Connection) -> String {
    let reply = conn
        .call_method(
            Some(NAME),
            PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(IFACE, "State"),
        )
        .await
        .expect("State");
    let v: OwnedVariant = reply.body().deserialize().expect("variant");
    String::try_from(v).unwrap_or_default()
}

/// `TurnFinished` signals as (turn, status), collected from the moment this returns.
pub async fn turn_finished(
    conn: &zbus::Connection,
) -> tokio::sync::mpsc::UnboundedReceiver<(String, String)> {
    use zbus::export::futures_core::Stream;
    let rule = format!("type='signal',interface='{IFACE}',member='TurnFinished'");
    let mut stream = zbus::MessageStream::for_match_rule(rule.as_str(), conn, None)
        .await
        .expect("match TurnFinished");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(msg)) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await
        {
            let Ok((turn, status, _response)) = msg
                .body()
                .deserialize::<(zbus::OwnedObjectPath, String, String)>()
            else {
                continue;
            };
            if tx.send((turn.to_string(), status)).is_err() {
                break;
            }
        }
    });
    rx
}

/// `Transcribe(fd, options)`: the text, or the error.
pub async fn transcribe(
    conn: &zbus::Connection,
    fd: &OwnedFd,
    raw: bool,
) -> Result<String, String> {
    let mut options = Options::new();
    if raw {
        options.insert("format".into(), string_option("raw"));
    }
    let reply = call(conn, "Transcribe", &(zbus::Fd::from(fd), options)).await?;
    reply.body().deserialize::<String>().map_err(error_text)
}
