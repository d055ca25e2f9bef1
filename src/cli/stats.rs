//! `skylark stats`: the running daemon's accounting (the `Usage` D-Bus property).

use std::process::ExitCode;

use anyhow::Result;
use skylark::dbus::usage::Figure;

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
