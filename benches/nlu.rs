//! Latency of one sentence against the whole built-in catalog: `cargo bench --bench nlu`.
//!
//! Runs every sentence of tests/data/nlu/{en,zh-CN}.tsv (matches and non-matches alike)
//! many times and prints p50 / p99 / max per language. A plain timing loop rather than
//! criterion: the figure wanted is a latency distribution, and it keeps dependencies lean.

use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer};
use std::time::Instant;

fn sentences(lang: &str) -> Vec<String> {
    let path = format!("{}/tests/data/nlu/{lang}.tsv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let t0 = Instant::now();
    let recognizer =
        Recognizer::new(Grammar::builtin().expect("catalog loads")).expect("catalog compiles");
    println!(
        "load + compile built-in catalog: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let rounds: usize = std::env::var("NLU_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let ctx = DialogueContext::new();
    for lang in ["en", "zh-CN"] {
        let language = Language::parse(lang).expect("valid tag");
        let texts = sentences(lang);
        let mut micros = Vec::with_capacity(texts.len() * rounds);
        let mut matched = 0;
        for round in 0..rounds {
            for text in &texts {
                let start = Instant::now();
                let m = recognizer.recognize(text, &language, &ctx);
                micros.push(start.elapsed().as_secs_f64() * 1e6);
                if round == 0 && m.is_some() {
                    matched += 1;
                }
            }
        }
        micros.sort_by(f64::total_cmp);
        println!(
            "{lang}: {} sentences ({matched} matched) x {rounds}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            texts.len(),
            percentile(&micros, 0.50),
            percentile(&micros, 0.99),
            micros.last().copied().unwrap_or(0.0)
        );
    }
}
