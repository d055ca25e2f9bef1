//! The answer gate on a labelled set, in one run: `cargo bench --bench answer_gate`.
//!
//! Data: `tests/data/llm/answer_gate.tsv` (split / lang / label / question; `good` answers
//! are fit to be spoken, `bad` ones are wrong, made up, in the wrong language or looping).
//! Each question is answered once by the lite model as the engine asks it (the config's
//! defaults: `llm.max_tokens`, `llm.max_sentences`, greedy), recording every token's score;
//! the gate is then replayed on the recording (it only ever reads a prefix, so this is what
//! it decides live). The `llm.gate_*` thresholds are fitted on the `dev` rows (best mean of
//! garbage stopped and good answers kept, the middle of the best log-probability range),
//! and reported on the `test` rows, beside the configured defaults.
//!
//! SKYLARK_GATE_SHOW=1 prints every answer with its verdict; SKYLARK_GATE_CACHE=FILE keeps
//! the recordings by question (only questions not in it are run: for fitting the gate
//! without the model; the speed figures then come from the run that recorded them);
//! SKYLARK_BENCH_THREADS sets the model's threads (default 2).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use skylark::config::Config;
use skylark::engine::Verdict;
use skylark::llm::intent::answer_messages;
use skylark::llm::{
    DecoderModel, FinishReason, Flow, GateSettings, LiteLlmSettings, LlmOptions, SentenceGate,
    TokenScore, DEFAULT_MODEL_SUBDIR,
};
use skylark::nlu::Language;

struct Row {
    dev: bool,
    lang: String,
    good: bool,
    question: String,
}

/// One answer as the model wrote it: the pieces the decoder handed out with their token's
/// score, and why it ended.
struct Recording {
    steps: Vec<(String, Option<TokenScore>)>,
    finish: FinishReason,
    seconds: f64,
}

fn rows() -> Vec<Row> {
    include_str!("../tests/data/llm/answer_gate.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4).then(|| Row {
                dev: f[0] == "dev",
                lang: f[1].to_string(),
                good: f[2] == "good",
                question: f[3].to_string(),
            })
        })
        .collect()
}

fn finish_name(f: FinishReason) -> String {
    format!("{f:?}")
}

fn finish_parse(s: &str) -> FinishReason {
    match s {
        "EndOfTurn" => FinishReason::EndOfTurn,
        "StopString" => FinishReason::StopString,
        "Cancelled" => FinishReason::Cancelled,
        "Sentences" => FinishReason::Sentences,
        "Repetition" => FinishReason::Repetition,
        "Stopped" => FinishReason::Stopped,
        _ => FinishReason::Length,
    }
}

fn record(questions: &[&str], settings: &LiteLlmSettings) -> Vec<Recording> {
    if questions.is_empty() {
        return Vec::new();
    }
    let threads = std::env::var("SKYLARK_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let opts = LlmOptions {
        threads,
        ..LlmOptions::default()
    };
    let dir = opts.models_dir.join(DEFAULT_MODEL_SUBDIR);
    let mut model = DecoderModel::load(&dir, &opts)
        .unwrap_or_else(|e| panic!("{e} (run `skylark models fetch`)"));
    let cancel = AtomicBool::new(false);
    questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let t = Instant::now();
            let prompt = model
                .encode_chat(&answer_messages(q, &settings.answer_prompt))
                .expect("prompt");
            let mut steps = Vec::new();
            let g = model
                .generate_scored(prompt, &settings.answer, &cancel, |text, score| {
                    steps.push((text.to_string(), score));
                    Flow::Go
                })
                .expect("generate");
            eprint!("\r{}/{} answered", i + 1, questions.len());
            Recording {
                steps,
                finish: g.finish,
                seconds: t.elapsed().as_secs_f64(),
            }
        })
        .collect()
}

fn to_json(r: &Recording) -> serde_json::Value {
    serde_json::json!({
        "finish": finish_name(r.finish),
        "seconds": r.seconds,
        "steps": r.steps.iter().map(|(t, s)| serde_json::json!([
            t, s.map(|s| [s.logprob, s.entropy])
        ])).collect::<Vec<_>>(),
    })
}

fn from_json(r: &serde_json::Value) -> Recording {
    Recording {
        finish: finish_parse(r["finish"].as_str().unwrap_or("")),
        seconds: r["seconds"].as_f64().unwrap_or(0.0),
        steps: r["steps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let text = s[0].as_str().unwrap_or("").to_string();
                        let score = s[1].as_array().map(|p| TokenScore {
                            logprob: p[0].as_f64().unwrap_or(f64::NEG_INFINITY) as f32,
                            entropy: p[1].as_f64().unwrap_or(0.0) as f32,
                        });
                        (text, score)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Every row's recording: from the cache file in $SKYLARK_GATE_CACHE when it has the
/// question, else by running the model (and then saved there).
fn recordings(rows: &[Row], settings: &LiteLlmSettings) -> Vec<Recording> {
    let cache_path = std::env::var("SKYLARK_GATE_CACHE").ok();
    let mut cache: serde_json::Map<String, serde_json::Value> = cache_path
        .as_deref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let missing: Vec<&str> = rows
        .iter()
        .map(|r| r.question.as_str())
        .filter(|q| !cache.contains_key(*q))
        .collect();
    for (q, rec) in missing.iter().zip(record(&missing, settings)) {
        cache.insert(q.to_string(), to_json(&rec));
    }
    if let Some(p) = &cache_path {
        std::fs::write(p, serde_json::Value::Object(cache.clone()).to_string())
            .expect("write the cache");
    }
    rows.iter()
        .map(|r| from_json(&cache[&r.question]))
        .collect()
}

/// The gate's verdict on a recorded answer, and what it would have said.
fn judge(row: &Row, rec: &Recording, settings: &GateSettings) -> (Verdict, String) {
    let lang = Language::parse(&row.lang).expect("language");
    let mut gate = SentenceGate::new(&row.question, &lang, settings.clone());
    let mut finish = rec.finish;
    for (text, score) in &rec.steps {
        if score.is_none() {
            // The decoder's final flush: the gate sees it as the live path does.
            let _ = gate.push(text, None);
            continue;
        }
        if gate.rejected() {
            finish = FinishReason::Stopped;
            break;
        }
        if let skylark::llm::gate::GateStep::Stop = gate.push(text, *score) {
            finish = FinishReason::Stopped;
            break;
        }
    }
    let (_, v) = gate.finish(finish);
    (v, gate.said().to_string())
}

/// (garbage stopped, good kept) as shares, and the counts.
fn score(
    rows: &[Row],
    recs: &[Recording],
    pick: impl Fn(&Row) -> bool,
    s: &GateSettings,
) -> (f64, f64, usize, usize) {
    let (mut bad, mut stopped, mut good, mut kept) = (0, 0, 0, 0);
    for (r, rec) in rows.iter().zip(recs) {
        if !pick(r) {
            continue;
        }
        let (v, _) = judge(r, rec, s);
        if r.good {
            good += 1;
            kept += usize::from(v.passed);
        } else {
            bad += 1;
            stopped += usize::from(!v.passed);
        }
    }
    let share = |a: usize, n: usize| {
        if n == 0 {
            f64::NAN
        } else {
            a as f64 / n as f64
        }
    };
    (share(stopped, bad), share(kept, good), bad, good)
}

fn fit(rows: &[Row], recs: &[Recording]) -> GateSettings {
    let mut best: Option<(f64, Vec<GateSettings>)> = None;
    let logprobs: Vec<f32> = (0..=140).map(|i| -1.5 + 0.01 * i as f32).collect();
    // From the most lenient value of each measure to the strictest.
    for echo in [1.0f32, 0.95, 0.9, 0.85, 0.8] {
        for rep in [0.5f32, 0.3, 0.2, 0.15, 0.1, 0.05] {
            for script in [0.3f32, 0.5, 0.6, 0.7, 0.8, 0.9] {
                for &lp in &logprobs {
                    let s = GateSettings {
                        enabled: true,
                        min_logprob: lp,
                        min_script_share: script,
                        max_repetition: rep,
                        max_echo: echo,
                    };
                    let (stopped, kept, _, _) = score(rows, recs, |r| r.dev, &s);
                    let m = (stopped + kept) / 2.0;
                    match &mut best {
                        Some((b, v)) if (m - *b).abs() < 1e-9 => v.push(s),
                        Some((b, _)) if m < *b => {}
                        _ => best = Some((m, vec![s])),
                    }
                }
            }
        }
    }
    let (_, tied) = best.expect("a grid");
    // Among the best: the most lenient echo, repetition and script thresholds (nothing in
    // the data asks for stricter ones), and the middle of their best log-probability range.
    let first = &tied[0];
    let same: Vec<&GateSettings> = tied
        .iter()
        .filter(|s| {
            s.max_echo == first.max_echo
                && s.max_repetition == first.max_repetition
                && s.min_script_share == first.min_script_share
        })
        .collect();
    println!(
        "dev optimum: llm.gate_min_logprob from {:.2} to {:.2} at the thresholds below",
        same[0].min_logprob,
        same[same.len() - 1].min_logprob
    );
    same[same.len() / 2].clone()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rows = rows();
    let config = Config::default();
    let settings = LiteLlmSettings::from_config(&config.llm);
    let t = Instant::now();
    let recs = recordings(&rows, &settings);
    eprintln!();
    let answering: f64 = recs.iter().map(|r| r.seconds).sum();
    println!(
        "answer gate: {} questions ({} dev), answered in {:.0} s ({:.1} s each; wall {:.0} s)",
        rows.len(),
        rows.iter().filter(|r| r.dev).count(),
        answering,
        answering / rows.len() as f64,
        t.elapsed().as_secs_f64()
    );
    let fitted = fit(&rows, &recs);
    let show = std::env::var("SKYLARK_GATE_SHOW").is_ok_and(|v| v == "1");
    if show {
        for (r, rec) in rows.iter().zip(&recs) {
            let full: String = rec.steps.iter().map(|(t, _)| t.as_str()).collect();
            let (v, said) = judge(r, rec, &fitted);
            println!(
                "{} {:5} {:4} {:4} {:>15} lp {:6.2} script {:.2} rep {:.2} | {} | {} => said: {}",
                if r.dev { "dev " } else { "test" },
                r.lang,
                if r.good { "good" } else { "bad" },
                if v.passed { "PASS" } else { "STOP" },
                v.reason.map_or("-", |r| r.as_str()),
                v.mean_logprob,
                v.script_share,
                v.repetition,
                r.question,
                full.replace('\n', " "),
                said.replace('\n', " ")
            );
        }
    }
    println!(
        "fitted on dev: llm.gate_min_logprob = {:.2}, llm.gate_min_script_share = {:.2}, llm.gate_max_repetition = {:.2}, llm.gate_max_echo = {:.2}",
        fitted.min_logprob, fitted.min_script_share, fitted.max_repetition, fitted.max_echo
    );
    println!("| thresholds | rows | language | garbage stopped | good answers kept |");
    println!("|---|---|---|---|---|");
    for (name, s) in [("fitted", &fitted), ("configured", &settings.gate)] {
        for (part, dev) in [("test", false), ("dev", true)] {
            for lang in ["en", "zh-CN", "all"] {
                let (stopped, kept, bad, good) = score(
                    &rows,
                    &recs,
                    |r| r.dev == dev && (lang == "all" || r.lang == lang),
                    s,
                );
                let pct = |x: f64| {
                    if x.is_nan() {
                        "–".to_string()
                    } else {
                        format!("{:.0} %", 100.0 * x)
                    }
                };
                println!(
                    "| {name} | {part} | {lang} | {} of {bad} | {} of {good} |",
                    pct(stopped),
                    pct(kept)
                );
            }
        }
    }
}
