//! `skylark bench --quick --json` as a user runs it, on the real models, with a private
//! PulseAudio server (null sinks) as the microphone so idle listening is measured too: every
//! scenario of #17 is there with finite, positive figures, the spoken clips reach their
//! intents, the JSON written to `--out` is the one printed, and the chart is an SVG document.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::pulse::PulseServer;
use serde_json::Value;

const SCENARIOS: [&str; 8] = [
    "text_intent",
    "spoken_intent",
    "spoken_first_audio",
    "open_question_first_token",
    "cold_start_ready",
    "text_intent_dbus",
    "idle_cpu",
    "rss",
];

fn positive(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what} = {x}: not positive");
    x
}

#[test]
fn quick_bench_measures_every_scenario_and_draws_the_chart() {
    let pulse = PulseServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (chart, out) = (dir.path().join("bench.svg"), dir.path().join("bench.json"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skylark"));
    cmd.args(["bench", "--quick", "--json", "--chart"])
        .arg(&chart)
        .arg("--out")
        .arg(&out)
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test")
        .env("SKYLARK_MODELS_DIR", common::models_dir())
        .env("SKYLARK_LOG", "warn");
    pulse.apply(&mut cmd);
    let started = std::time::Instant::now();
    let o = cmd.output().expect("run skylark bench");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "skylark bench failed: {stderr}");
    eprintln!("quick bench took {:?}", started.elapsed());
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("--out written"))
            .expect("--out is JSON");
    assert_eq!(report, written, "--out holds what --json printed");
    assert_eq!(report["quick"], true);
    assert!(report["machine"]["cpus"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(
        report["machine"]["load_average"].as_array().map(Vec::len),
        Some(3)
    );

    let scenarios = report["scenarios"].as_array().expect("scenarios");
    let ids: BTreeSet<&str> = scenarios.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, SCENARIOS.into_iter().collect(), "{report:#}");
    for s in scenarios {
        let id = s["id"].as_str().unwrap_or_default();
        assert!(
            s["skipped"].is_null(),
            "{id} was skipped: {} (stderr: {stderr})",
            s["skipped"]
        );
        let n = s["n"].as_u64().unwrap_or(0);
        assert!(n >= 1, "{id}: n = {n}");
        let (p50, p95) = (
            positive(&s["p50"], &format!("{id} p50")),
            positive(&s["p95"], &format!("{id} p95")),
        );
        assert!(p50 <= p95, "{id}: p50 {p50} > p95 {p95}");
        assert!(
            ["ms", "%", "MB"].contains(&s["unit"].as_str().unwrap_or_default()),
            "{id}: unit {}",
            s["unit"]
        );
        if !s["target"].is_null() {
            positive(&s["target"]["max"], &format!("{id} target"));
            let stat = s["target"]["stat"].as_str().unwrap_or_default();
            let value = if stat == "p95" { p95 } else { p50 };
            let max = s["target"]["max"].as_f64().unwrap_or(0.0);
            assert_eq!(s["pass"], Value::Bool(value <= max), "{id}: pass");
        }
        for stage in s["stages"].as_array().into_iter().flatten() {
            assert!(stage["name"].is_string(), "{id}: stage {stage}");
            assert!(stage["n"].as_u64().unwrap_or(0) >= 1, "{id}: stage {stage}");
        }
    }
    let by_id = |id: &str| {
        scenarios
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    for id in [
        "text_intent",
        "spoken_intent",
        "spoken_first_audio",
        "cold_start_ready",
    ] {
        let stages = by_id(id)["stages"].as_array().map(Vec::len).unwrap_or(0);
        assert!(stages >= 1, "{id} has no stages");
    }
    // The clips are catalog commands: each reaches its intent.
    let correct = &by_id("spoken_intent")["correct"];
    assert_eq!(correct["ok"], correct["of"], "spoken clips: {correct}");
    positive(
        &by_id("spoken_intent")["by_language"]["en"]["p50"],
        "spoken English p50",
    );
    // Over D-Bus, with the bus's own Ping as the anchor.
    let dbus = by_id("text_intent_dbus");
    assert_eq!(dbus["anchor"]["name"], "Peer.Ping");
    positive(&dbus["anchor"]["p50"], "Ping p50");
    assert_eq!(dbus["target"]["max"], 1.0);
    // Idle listening beside the same daemon with the wake word off.
    let idle = by_id("idle_cpu");
    assert_eq!(idle["anchor"]["name"], "wake word off");
    let quiet = idle["anchor"]["p50"].as_f64().unwrap_or(-1.0);
    assert!(quiet.is_finite() && quiet >= 0.0, "wake word off: {quiet}");
    assert_eq!(by_id("cold_start_ready")["target"]["max"], 1500.0);
    assert_eq!(by_id("rss")["target"]["max"], 400.0);

    // The chart: a well-formed SVG document (parsed by Python's XML parser) naming each
    // measured scenario.
    let svg = std::fs::read_to_string(&chart).expect("the chart was written");
    let parsed = Command::new(common::python())
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().tag)",
        ])
        .arg(&chart)
        .output()
        .expect("run python");
    assert_eq!(
        String::from_utf8_lossy(&parsed.stdout).trim(),
        "{http://www.w3.org/2000/svg}svg",
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    for s in scenarios {
        let title = s["title"].as_str().unwrap_or_default();
        assert!(svg.contains(title), "the chart does not name {title}");
    }
    assert!(svg.contains("<rect"), "the chart has no bars");
}
