//! The accounting as D-Bus `a{sv}` (the `Usage` property, the `TurnUsage` method), turn
//! traces (`RecentTurns`, the `TurnTrace` signal), the memory report (`MemoryUsage`), and the
//! client side `skylark stats` reads them with (the only other zbus user is this module).

use std::collections::{BTreeMap, HashMap};

use zbus::{OwnedVariant, Variant};

use crate::engine::{MemoryReport, TurnRecord, TurnUsage, UsageTotals};

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

/// A turn's record and trace (`RecentTurns`, `TurnTrace`): turn (o), id (t), kind, status,
/// intent ("" for none), source (grammar, llm, cloud, none; "" when nothing was understood
/// or asked), tier (grammar, tolerant, semantic, llm, cloud, none; ""), language (s),
/// started_unix_us (t, wall clock), and each figure the turn has as d milliseconds: spans
/// (queued_ms, capture_ms, transcribe_ms, recognize_ms, handler_ms, speak_ms, total_ms) and
/// marks, offsets from the start (wake_word_ms, speech_start_ms, speech_end_ms,
/// first_partial_ms, final_transcript_ms, intent_recognized_ms, handler_reply_ms,
/// first_token_ms, first_audio_ms, playback_end_ms, cancel_ms). A figure is absent when the
/// turn did not reach it.
pub fn trace_to_dbus(r: &TurnRecord) -> HashMap<String, OwnedVariant> {
    let mut m = HashMap::new();
    let mut text = |k: &str, v: &str| {
        m.insert(k.to_string(), owned(Variant::from(v.to_string())));
    };
    text("kind", r.kind.as_str());
    text("status", r.status.as_str());
    text("intent", r.intent.as_deref().unwrap_or(""));
    text("source", r.source());
    text("tier", r.trace.tier.map(|t| t.as_str()).unwrap_or(""));
    text("language", &r.language);
    let path = super::convert::turn_path(r.id);
    m.insert("turn".into(), owned(Variant::from(path.into_inner())));
    m.insert("id".into(), owned(Variant::U64(r.id.0)));
    let started = r
        .trace
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    m.insert("started_unix_us".into(), owned(Variant::U64(started)));
    for (k, d) in r.trace.figures() {
        m.insert(k.into(), owned(Variant::F64(d.as_secs_f64() * 1000.0)));
    }
    m
}

/// `MemoryUsage`: rss_bytes, peak_rss_bytes (t), other_bytes (x: RSS not explained by the
/// start-up and the loads), stages (a{sx}: what each stage's load added, bytes; `start` is
/// the process before any load).
pub fn memory_to_dbus(r: &MemoryReport) -> HashMap<String, OwnedVariant> {
    let mut m = HashMap::new();
    m.insert("rss_bytes".into(), owned(Variant::U64(r.rss_bytes)));
    m.insert(
        "peak_rss_bytes".into(),
        owned(Variant::U64(r.peak_rss_bytes)),
    );
    m.insert("other_bytes".into(), owned(Variant::I64(r.other_bytes())));
    let stages: HashMap<String, i64> = r
        .stages
        .iter()
        .map(|s| (s.stage.clone(), s.bytes))
        .collect();
    m.insert("stages".into(), owned(Variant::from(stages)));
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

async fn connect(system: bool) -> zbus::Result<zbus::Connection> {
    if system {
        zbus::Connection::system().await
    } else {
        zbus::Connection::session().await
    }
}

/// Reads the running daemon's `Usage` property (session bus, or system with `system`).
pub async fn read_usage(system: bool) -> zbus::Result<BTreeMap<String, Figure>> {
    let conn = connect(system).await?;
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

/// The daemon's last `count` turn traces (`RecentTurns`), newest first, as JSON objects.
pub async fn read_recent_turns(
    system: bool,
    count: u32,
) -> zbus::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let turns: Vec<HashMap<String, OwnedVariant>> = call(system, "RecentTurns", &(count,)).await?;
    Ok(turns.iter().map(dict_to_json).collect())
}

/// The daemon's `MemoryUsage`, as a JSON object.
pub async fn read_memory(system: bool) -> zbus::Result<serde_json::Map<String, serde_json::Value>> {
    let memory: HashMap<String, OwnedVariant> = call(system, "MemoryUsage", &()).await?;
    Ok(dict_to_json(&memory))
}

/// `method` of the daemon's interface on the session (or system) bus, its reply deserialized.
async fn call<B, R>(system: bool, method: &str, body: &B) -> zbus::Result<R>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let conn = connect(system).await?;
    let reply = conn
        .call_method(
            Some(super::NAME),
            super::PATH,
            Some(super::INTERFACE),
            method,
            body,
        )
        .await?;
    reply.body().deserialize()
}

fn dict_to_json(m: &HashMap<String, OwnedVariant>) -> serde_json::Map<String, serde_json::Value> {
    m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

/// A D-Bus value as JSON: numbers as numbers, strings and paths as strings, dicts as objects.
fn to_json(v: &Variant<'_>) -> serde_json::Value {
    use serde_json::json;
    match v {
        Variant::U64(n) => json!(n),
        Variant::U32(n) => json!(n),
        Variant::I64(n) => json!(n),
        Variant::I32(n) => json!(n),
        Variant::F64(x) => json!(x),
        Variant::Bool(b) => json!(b),
        Variant::Str(s) => json!(s.as_str()),
        Variant::ObjectPath(p) => json!(p.as_str()),
        Variant::Variant(inner) => to_json(inner),
        Variant::Dict(d) => {
            let mut obj = serde_json::Map::new();
            for (k, v) in d.iter() {
                let key = match k {
                    Variant::Str(s) => s.to_string(),
                    other => other.to_string(),
                };
                obj.insert(key, to_json(v));
            }
            serde_json::Value::Object(obj)
        }
        other => json!(other.to_string()),
    }
}
