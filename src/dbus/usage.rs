//! The accounting as D-Bus `a{sv}` (the `Usage` property, the `TurnUsage` method), and the
//! client side `skylark stats` reads it with (the only other zbus user is this module).

use std::collections::{BTreeMap, HashMap};

use zbus::{OwnedVariant, Variant};

use crate::engine::{TurnUsage, UsageTotals};

fn owned(v: Variant<'static>) -> OwnedVariant {
    OwnedVariant::try_from(v).unwrap_or_else(|_| OwnedVariant::from(false))
}

/// `Usage`: totals since the daemon started, plus the cloud tier's state and prices' result.
pub fn totals_to_dbus(t: &UsageTotals, cloud_state: &str) -> HashMap<String, OwnedVariant> {
    let mut m = HashMap::new();
    let mut u = |k: &str, v: u64| {
        m.insert(k.to_string(), owned(Variant::U64(v)));
    };
    u("turns", t.turns);
    u("device_turns", t.device_turns);
    u("cloud_turns", t.cloud_turns);
    u("device_tokens", t.device_tokens);
    u("cloud_tokens_in", t.cloud_tokens_in);
    u("cloud_tokens_out", t.cloud_tokens_out);
    u("cloud_calls", t.cloud_calls);
    u("cloud_failures", t.cloud_failures);
    u("kept_private", t.kept_private);
    u("breaker_opened", t.breaker_opened);
    u("device_time_us", t.device_time.as_micros() as u64);
    u("cloud_time_us", t.cloud_time.as_micros() as u64);
    m.insert("cloud_cost".into(), owned(Variant::F64(t.cloud_cost)));
    m.insert(
        "cloud_state".into(),
        owned(Variant::from(cloud_state.to_string())),
    );
    m
}

/// `TurnUsage(o turn)`: one turn's figures.
pub fn turn_to_dbus(t: &TurnUsage) -> HashMap<String, OwnedVariant> {
    let mut m = HashMap::new();
    let source = t.source.map(|s| s.as_str()).unwrap_or("none");
    m.insert("source".into(), owned(Variant::from(source.to_string())));
    for (k, v) in [
        ("device_tokens", t.device_tokens),
        ("cloud_tokens_in", t.cloud_tokens_in),
        ("cloud_tokens_out", t.cloud_tokens_out),
        ("device_time_us", t.device_time.as_micros() as u64),
        ("cloud_time_us", t.cloud_time.as_micros() as u64),
    ] {
        m.insert(k.into(), owned(Variant::U64(v)));
    }
    m.insert("cloud_cost".into(), owned(Variant::F64(t.cloud_cost)));
    m.insert(
        "cloud_tokens_estimated".into(),
        owned(Variant::Bool(t.cloud_tokens_estimated)),
    );
    m.insert("kept_private".into(), owned(Variant::Bool(t.kept_private)));
    m.insert(
        "cloud_outcome".into(),
        owned(Variant::from(t.cloud_outcome.unwrap_or("").to_string())),
    );
    m
}

/// A value of the `Usage` property as the client reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    Count(u64),
    Amount(f64),
    Text(String),
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Figure::Count(n) => write!(f, "{n}"),
            Figure::Amount(x) => write!(f, "{x:.6}"),
            Figure::Text(s) => f.write_str(s),
        }
    }
}

/// Reads the running daemon's `Usage` property (session bus, or system with `system`).
pub async fn read_usage(system: bool) -> zbus::Result<BTreeMap<String, Figure>> {
    let conn = if system {
        zbus::Connection::system().await?
    } else {
        zbus::Connection::session().await?
    };
    let proxy = zbus::fdo::PropertiesProxy::builder(&conn)
        .destination(super::NAME)
        .path(super::PATH)
        .build()
        .await?;
    let iface = zbus::names::InterfaceName::from_static_str_unchecked(super::INTERFACE);
    let value: OwnedVariant = proxy.get(iface, "Usage").await?;
    let map: HashMap<String, OwnedVariant> = HashMap::try_from(value)
        .map_err(|e| zbus::Error::Failure(format!("Usage is not a{{sv}}: {e}")))?;
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let f = match &*v {
                Variant::U64(n) => Figure::Count(*n),
                Variant::U32(n) => Figure::Count(u64::from(*n)),
                Variant::F64(x) => Figure::Amount(*x),
                Variant::Str(s) => Figure::Text(s.to_string()),
                other => Figure::Text(other.to_string()),
            };
            (k, f)
        })
        .collect())
}
