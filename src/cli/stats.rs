//! `skylark stats`: the running daemon's accounting (the `Usage` D-Bus property), and the
//! cloud tier's start-up shared by `daemon` and `ask`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use skylark::config::Config;
use skylark::dbus::usage::Figure;
use skylark::engine::Engine;

/// Sets the cloud tier (when `[cloud]` has a URL and its key can be read) and the routing
/// mode of `cloud.routing`.
pub(crate) fn start_cloud(engine: &Engine, config: &Config) {
    if let Some(client) = skylark::llm::cloud::load_configured(&config.cloud) {
        engine.set_cloud(Arc::new(client), config.cloud.clone());
    }
    if let Err(e) = engine.set_routing_mode(&config.cloud.routing) {
        tracing::warn!("cloud.routing: {e}");
    }
}

pub fn run(json: bool, system: bool) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let usage = match rt.block_on(skylark::dbus::usage::read_usage(system)) {
        Ok(u) => u,
        Err(e) => {
            let bus = if system { "system" } else { "session" };
            eprintln!(
                "skylark stats: cannot read the daemon's Usage on the {bus} bus: {e}. \
                 Is `skylark daemon` running (scripts/run.sh starts one)?"
            );
            return Ok(ExitCode::from(1));
        }
    };
    if json {
        let obj: serde_json::Map<String, serde_json::Value> = usage
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Figure::Count(n) => serde_json::json!(n),
                    Figure::Amount(x) => serde_json::json!(x),
                    Figure::Text(s) => serde_json::json!(s),
                };
                (k.clone(), v)
            })
            .collect();
        println!("{}", serde_json::Value::Object(obj));
    } else {
        for (k, v) in &usage {
            println!("{k:<18} {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
