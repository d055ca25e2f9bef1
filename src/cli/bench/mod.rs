//! `skylark bench [--json] [--quick] [--out FILE.json] [--chart FILE.svg]`: the standard
//! scenarios on the installed default models, each with its target and, where one exists, its
//! anchor (the same path without the part under test).
//!
//! In process (`inprocess.rs`, one engine built as `skylark ask` builds it): text → intent,
//! spoken command → intent and → first audio of the answer (the clips of `tests/data/bench/`,
//! built into the binary), open question → first answer token. Against a real daemon
//! (`daemon.rs`, a private `dbus-daemon` and `skylark daemon` started by the bench): cold start
//! to `READY=1`, `Recognize` over D-Bus (anchor: `Peer.Ping`), idle CPU with the microphone open
//! and the wake word listening, and RSS with every default model loaded. Prints a table (or,
//! with `--json`, one JSON object), writes the JSON to `--out`, and draws a waterfall of each
//! scenario's stages as SVG (`chart.rs`).

mod chart;
mod daemon;
mod inprocess;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use super::stats::percentile;
use super::Context;

/// A sentence the grammar accepts, with its language tag: (`en`, "turn on the AC").
pub(crate) type Sentence = (String, String);

/// What the command line asks for.
pub struct BenchArgs {
    pub json: bool,
    pub quick: bool,
    pub out: Option<PathBuf>,
    pub chart: PathBuf,
}

/// A target a scenario is held to: `stat` (`p50`, `p95`) at most `max` (in the scenario's
/// unit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub stat: &'static str,
    pub max: f64,
}

/// The same path without the part under test, measured in the same run.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub name: String,
    pub samples: Vec<f64>,
}

/// One scenario's measurements.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub id: &'static str,
    pub title: String,
    /// `ms`, `%` (of one core) or `MB`.
    pub unit: &'static str,
    pub samples: Vec<f64>,
    /// The stages one run goes through, in order, each with its samples (the waterfall).
    pub stages: Vec<(String, Vec<f64>)>,
    pub anchor: Option<Anchor>,
    pub target: Option<Target>,
    /// Why the scenario could not run (then `samples` is empty).
    pub skipped: Option<String>,
    /// What was measured exactly, in a sentence.
    pub note: String,
    /// Runs that ended as expected (the right intent, an answer), when that is checked.
    pub correct: Option<(usize, usize)>,
    /// The samples split by language (`en`, `zh-CN`), when both are measured.
    pub by_language: Vec<(String, Vec<f64>)>,
}

impl Scenario {
    pub fn new(id: &'static str, title: &str, unit: &'static str, note: &str) -> Scenario {
        Scenario {
            id,
            title: title.to_string(),
            unit,
            samples: Vec::new(),
            stages: Vec::new(),
            anchor: None,
            target: None,
            skipped: None,
            note: note.to_string(),
            correct: None,
            by_language: Vec::new(),
        }
    }

    pub fn skipped(id: &'static str, title: &str, unit: &'static str, why: String) -> Scenario {
        let mut s = Scenario::new(id, title, unit, "");
        s.skipped = Some(why);
        s
    }

    pub fn with_target(mut self, stat: &'static str, max: f64) -> Scenario {
        self.target = Some(Target { stat, max });
        self
    }

    /// Files sample `x` (already in `samples`) under `language` too.
    pub fn note_language(&mut self, language: &str, x: f64) {
        match self.by_language.iter_mut().find(|(l, _)| l == language) {
            Some((_, v)) => v.push(x),
            None => self.by_language.push((language.to_string(), vec![x])),
        }
    }

    /// p50 / p95 of the samples (`None` without samples).
    pub fn p(&self, which: f64) -> Option<f64> {
        stat(&self.samples, which)
    }

    /// Whether the target holds (`None`: no target, or nothing measured).
    pub fn pass(&self) -> Option<bool> {
        let target = self.target?;
        let value = self.p(if target.stat == "p95" { 95.0 } else { 50.0 })?;
        Some(value <= target.max)
    }

    fn to_json(&self) -> Value {
        let summary = |name: Option<&str>, samples: &[f64]| {
            let mut v = json!({
                "n": samples.len(),
                "p50": stat(samples, 50.0),
                "p95": stat(samples, 95.0),
            });
            if let (Some(name), Value::Object(obj)) = (name, &mut v) {
                obj.insert("name".into(), json!(name));
            }
            v
        };
        let target = self.target.map(|t| json!({"stat": t.stat, "max": t.max}));
        let anchor = self
            .anchor
            .as_ref()
            .map(|a| summary(Some(&a.name), &a.samples));
        let stages: Vec<Value> = self
            .stages
            .iter()
            .map(|(name, samples)| summary(Some(name), samples))
            .collect();
        let by_language: serde_json::Map<String, Value> = self
            .by_language
            .iter()
            .map(|(language, samples)| (language.clone(), summary(None, samples)))
            .collect();
        let correct = self.correct.map(|(ok, of)| json!({"ok": ok, "of": of}));
        json!({
            "id": self.id,
            "title": self.title,
            "unit": self.unit,
            "n": self.samples.len(),
            "p50": stat(&self.samples, 50.0),
            "p95": stat(&self.samples, 95.0),
            "note": self.note,
            "skipped": self.skipped,
            "target": target,
            "pass": self.pass(),
            "anchor": anchor,
            "stages": stages,
            "by_language": by_language,
            "correct": correct,
        })
    }
}

/// The nearest-rank percentile of `samples` (any order), `None` when empty or not finite.
pub(crate) fn stat(samples: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(percentile(&v, p))
}

/// The machine the figures come from.
fn machine() -> Value {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<f64> = load
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    json!({"cpus": cpus, "cpu": cpu_model, "load_average": load})
}

/// The default models that are not installed (size checked), one line each.
fn missing_models(ctx: &Context) -> Result<Vec<String>> {
    use skylark::models::{Check, Manifest, Store};
    let manifest = Manifest::builtin()?;
    let store = Store::new(&ctx.models_dir);
    Ok(manifest
        .models
        .iter()
        .filter_map(|model| {
            let problems = store.check_model(model, Check::Size);
            let (file, problem) = problems.first()?;
            Some(format!(
                "{}: {} {problem}",
                model.id,
                ctx.models_dir.join(&file.path).display()
            ))
        })
        .collect())
}

pub fn run(ctx: &Context, args: BenchArgs) -> Result<ExitCode> {
    // Figures without a model would look better and mean nothing: refuse.
    let missing = missing_models(ctx)?;
    if !missing.is_empty() {
        eprintln!(
            "skylark bench: the scenarios run on the installed default models, and these are missing:"
        );
        for line in &missing {
            eprintln!("  {line}");
        }
        eprintln!("Fix: run `skylark models fetch` (or pass --models-dir).");
        return Ok(ExitCode::from(1));
    }
    let started = std::time::Instant::now();
    let load_before = machine();
    let (mut scenarios, sentences) = inprocess::run(ctx, args.quick)?;
    scenarios.extend(daemon::run(ctx, args.quick, &sentences));
    let report = json!({
        "skylark": env!("CARGO_PKG_VERSION"),
        "quick": args.quick,
        "machine": load_before,
        "load_average_after": machine()["load_average"],
        "seconds": started.elapsed().as_secs_f64(),
        "chart": args.chart.display().to_string(),
        "scenarios": scenarios.iter().map(Scenario::to_json).collect::<Vec<_>>(),
    });
    chart::draw(&args.chart, &scenarios, &report["machine"])
        .with_context(|| format!("cannot draw the chart {}", args.chart.display()))?;
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{text}\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.json {
        println!("{text}");
    } else {
        print_table(&scenarios, &report);
    }
    Ok(ExitCode::SUCCESS)
}

/// A figure in its unit, for the table.
fn show(x: Option<f64>, unit: &str) -> String {
    match x {
        None => "—".into(),
        Some(x) if unit == "ms" && x < 10.0 => format!("{x:.3}"),
        Some(x) => format!("{x:.1}"),
    }
}

fn print_table(scenarios: &[Scenario], report: &Value) {
    println!(
        "{:<34} {:>5} {:>10} {:>10} {:<5} {:>12} {:<6} {:<26}",
        "scenario", "n", "p50", "p95", "unit", "target", "result", "anchor p50"
    );
    for s in scenarios {
        if let Some(why) = &s.skipped {
            println!("{:<34} skipped: {why}", s.title);
            continue;
        }
        let target = s
            .target
            .map(|t| format!("{} ≤ {}", t.stat, t.max))
            .unwrap_or_else(|| "—".into());
        let result = match s.pass() {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "—",
        };
        let anchor = s
            .anchor
            .as_ref()
            .map(|a| format!("{} {}", a.name, show(stat(&a.samples, 50.0), s.unit)))
            .unwrap_or_else(|| "—".into());
        println!(
            "{:<34} {:>5} {:>10} {:>10} {:<5} {:>12} {:<6} {:<26}",
            s.title,
            s.samples.len(),
            show(s.p(50.0), s.unit),
            show(s.p(95.0), s.unit),
            s.unit,
            target,
            result,
            anchor
        );
    }
    println!();
    for s in scenarios.iter().filter(|s| s.skipped.is_none()) {
        let stages: Vec<String> = s
            .stages
            .iter()
            .map(|(name, v)| format!("{name} {}", show(stat(v, 50.0), s.unit)))
            .collect();
        let correct = s
            .correct
            .map(|(ok, of)| format!(" ({ok}/{of} as expected)"))
            .unwrap_or_default();
        if !stages.is_empty() {
            println!("{}: {}{correct}", s.id, stages.join(" → "));
        } else if !correct.is_empty() {
            println!("{}:{correct}", s.id);
        }
        for (language, samples) in &s.by_language {
            println!(
                "  {language}: n {}, p50 {}, p95 {} {}",
                samples.len(),
                show(stat(samples, 50.0), s.unit),
                show(stat(samples, 95.0), s.unit),
                s.unit
            );
        }
    }
    println!(
        "\nmachine: {} cpus ({}), load average {} before, {} after; chart: {}",
        report["machine"]["cpus"],
        report["machine"]["cpu"].as_str().unwrap_or(""),
        report["machine"]["load_average"],
        report["load_average_after"],
        report["chart"].as_str().unwrap_or("")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_hold_on_the_named_percentile() {
        let mut s = Scenario::new("x", "x", "ms", "").with_target("p50", 10.0);
        assert_eq!(s.pass(), None, "nothing measured");
        s.samples = vec![1.0, 2.0, 3.0, 50.0];
        assert_eq!((s.p(50.0), s.p(95.0)), (Some(2.0), Some(50.0)));
        assert_eq!(s.pass(), Some(true));
        s.target = Some(Target {
            stat: "p95",
            max: 10.0,
        });
        assert_eq!(s.pass(), Some(false));
        assert_eq!(stat(&[f64::NAN], 50.0), None);
    }

    #[test]
    fn a_skipped_scenario_says_why_and_has_no_figures() {
        let s = Scenario::skipped("idle_cpu", "idle", "%", "no microphone".into());
        let v = s.to_json();
        assert_eq!(v["skipped"], "no microphone");
        assert_eq!(v["n"], 0);
        assert!(v["p50"].is_null() && v["pass"].is_null());
    }
}
