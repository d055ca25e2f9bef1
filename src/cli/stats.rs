//! `skylark stats`: the running daemon's accounting (the `Usage` D-Bus property), then, over
//! its recent turns (`RecentTurns`), p50 / p95 of each stage and moment of the trace and the
//! device / cloud counts, and where its resident memory goes (`MemoryUsage`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Map, Value};
use skylark::dbus::usage::Figure;

/// Turns asked for: all the daemon keeps.
const RECENT: u32 = 256;

pub fn run(json: bool, system: bool) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let bus = if system { "system" } else { "session" };
    let usage = match rt.block_on(skylark::dbus::usage::read_usage(system)) {
        Ok(u) => u,
        Err(e) => {
            eprintln!(
                "skylark stats: cannot read the daemon's Usage on the {bus} bus: {e}. \
                 Is `skylark daemon` running (scripts/run.sh starts one)?"
            );
            return Ok(ExitCode::from(1));
        }
    };
    // A daemon older than these methods still gets its usage printed.
    let turns = rt
        .block_on(skylark::dbus::usage::read_recent_turns(system, RECENT))
        .map_err(|e| eprintln!("skylark stats: no recent turns from the daemon: {e}"))
        .ok();
    let memory = rt
        .block_on(skylark::dbus::usage::read_memory(system))
        .map_err(|e| eprintln!("skylark stats: no memory report from the daemon: {e}"))
        .ok();
    let recent = turns.as_deref().map(summarize);
    if json {
        let mut obj: Map<String, Value> = usage
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Figure::Count(n) => json!(n),
                    Figure::Amount(x) => json!(x),
                    Figure::Text(s) => json!(s),
                };
                (k.clone(), v)
            })
            .collect();
        if let Some(recent) = &recent {
            obj.insert("recent_turns".into(), recent.to_json());
        }
        if let Some(memory) = memory {
            obj.insert("memory".into(), Value::Object(memory));
        }
        println!("{}", Value::Object(obj));
    } else {
        for (k, v) in &usage {
            println!("{k:<18} {v}");
        }
        if let Some(recent) = &recent {
            println!();
            recent.print();
        }
        if let Some(memory) = &memory {
            println!();
            print_memory(memory);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// p50 / p95 of one figure over the turns that have it.
#[derive(Debug, Clone, PartialEq)]
struct Percentiles {
    n: usize,
    p50: f64,
    p95: f64,
}

/// The recent turns in figures.
#[derive(Debug, Clone, PartialEq)]
struct Recent {
    turns: usize,
    device: usize,
    cloud: usize,
    by_status: BTreeMap<String, usize>,
    by_tier: BTreeMap<String, usize>,
    /// Per figure (`recognize_ms`, `first_audio_ms`, …), in the trace's order.
    figures: Vec<(String, Percentiles)>,
}

impl Recent {
    fn to_json(&self) -> Value {
        let figures: Map<String, Value> = self
            .figures
            .iter()
            .map(|(k, p)| (k.clone(), json!({"n": p.n, "p50": p.p50, "p95": p.p95})))
            .collect();
        json!({
            "turns": self.turns,
            "device": self.device,
            "cloud": self.cloud,
            "by_status": self.by_status,
            "by_tier": self.by_tier,
            "stages": figures,
        })
    }

    fn print(&self) {
        let counts = |m: &BTreeMap<String, usize>| {
            m.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "recent turns       {} (device {}, cloud {}; {}; tiers: {})",
            self.turns,
            self.device,
            self.cloud,
            counts(&self.by_status),
            counts(&self.by_tier)
        );
        if self.figures.is_empty() {
            return;
        }
        println!(
            "{:<22} {:>5} {:>10} {:>10}",
            "stage", "n", "p50 ms", "p95 ms"
        );
        for (k, p) in &self.figures {
            println!("{k:<22} {:>5} {:>10.2} {:>10.2}", p.n, p.p50, p.p95);
        }
    }
}

/// Counts and percentiles over `turns` (`RecentTurns` entries). Figures are the entries'
/// `*_ms` numbers, in the order the trace names them, those no turn has left out.
fn summarize(turns: &[Map<String, Value>]) -> Recent {
    let text = |t: &Map<String, Value>, k: &str| {
        t.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut recent = Recent {
        turns: turns.len(),
        device: 0,
        cloud: 0,
        by_status: BTreeMap::new(),
        by_tier: BTreeMap::new(),
        figures: Vec::new(),
    };
    for t in turns {
        *recent.by_status.entry(text(t, "status")).or_default() += 1;
        let tier = text(t, "tier");
        match text(t, "source").as_str() {
            "" => {}
            "cloud" => recent.cloud += 1,
            _ => recent.device += 1,
        }
        if !tier.is_empty() {
            *recent.by_tier.entry(tier).or_default() += 1;
        }
    }
    for key in skylark::engine::TurnTrace::figure_names() {
        let mut values: Vec<f64> = turns
            .iter()
            .filter_map(|t| t.get(key).and_then(Value::as_f64))
            .collect();
        if values.is_empty() {
            continue;
        }
        values.sort_by(f64::total_cmp);
        recent.figures.push((
            key.to_string(),
            Percentiles {
                n: values.len(),
                p50: percentile(&values, 50.0),
                p95: percentile(&values, 95.0),
            },
        ));
    }
    recent
}

/// The nearest-rank percentile of sorted, non-empty `values`.
pub(super) fn percentile(values: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn print_memory(memory: &Map<String, Value>) {
    let mb = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0) / 1_048_576.0;
    println!(
        "memory             rss {:.1} MB (peak {:.1} MB)",
        mb(memory.get("rss_bytes")),
        mb(memory.get("peak_rss_bytes"))
    );
    let mut stages: Vec<(&String, f64)> = memory
        .get("stages")
        .and_then(Value::as_object)
        .map(|s| s.iter().map(|(k, v)| (k, mb(Some(v)))).collect())
        .unwrap_or_default();
    stages.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (stage, mb) in stages {
        println!("  {stage:<20} {mb:>8.1} MB");
    }
    println!(
        "  {:<20} {:>8.1} MB   (since start-up: turns, caches, arenas)",
        "other",
        mb(memory.get("other_bytes"))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_counts_over_recent_turns() {
        assert_eq!(percentile(&[1.0], 95.0), 1.0);
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!((percentile(&v, 50.0), percentile(&v, 95.0)), (10.0, 19.0));
        let turn = |status: &str, source: &str, tier: &str, recognize: Option<f64>| {
            let mut m = Map::new();
            m.insert("status".into(), json!(status));
            m.insert("source".into(), json!(source));
            m.insert("tier".into(), json!(tier));
            m.insert("total_ms".into(), json!(10.0));
            if let Some(r) = recognize {
                m.insert("recognize_ms".into(), json!(r));
            }
            m
        };
        let turns = vec![
            turn("ok", "grammar", "grammar", Some(0.5)),
            turn("ok", "cloud", "cloud", Some(300.0)),
            turn("no_intent", "none", "none", Some(2.0)),
            turn("ok", "", "", None),
        ];
        let r = summarize(&turns);
        assert_eq!((r.turns, r.device, r.cloud), (4, 2, 1));
        assert_eq!(r.by_status["ok"], 3);
        let names: Vec<&str> = r.figures.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["recognize_ms", "total_ms"]);
        assert_eq!(
            r.figures[0].1,
            Percentiles {
                n: 3,
                p50: 2.0,
                p95: 300.0
            }
        );
    }
}
