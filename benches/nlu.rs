//! Latency of one sentence against the whole built-in catalog: `cargo bench --bench nlu`.
//!
//! Runs every sentence of tests/data/nlu/{en,zh-CN}.tsv (matches and non-matches alike)
//! many times and prints p50 / p99 / max per language; then, in the same run, the tolerant
//! path (`Recognizer::recognize_tolerant`, which runs after an exact miss) on whisper's
//! misheard transcripts, unrelated speech, the tsv sentences with their second word dropped
//! and the tsv sentences themselves (`NLU_BENCH_TOLERANT_ROUNDS`, default 10). A plain timing loop rather than
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

/// Transcripts whisper produced (misheard commands and unrelated speech).
const HEARD_EN: &[&str] = &[
    "Closeness and roof.",
    "Force the music.",
    "The frost melt wind shield.",
    "Set the pass in just side to 24 degrees.",
    "Open the center.",
    "the weather in the news today was mostly about the election",
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
];
const HEARD_ZH: &[&str] = &[
    "打开空条",
    "把文度调到二十二度",
    "今天的新闻主要是关于选举的",
];

/// p50 / p99 / max of the tolerant path on `texts` and their variants.
fn tolerant(recognizer: &Recognizer, lang: &str, language: &Language, texts: &[String]) {
    let rounds: usize = std::env::var("NLU_BENCH_TOLERANT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let heard = if lang == "en" { HEARD_EN } else { HEARD_ZH };
    let mut inputs: Vec<String> = heard.iter().map(|s| s.to_string()).collect();
    for t in texts {
        let words: Vec<&str> = t.split_whitespace().collect();
        if words.len() > 2 {
            let mut w = words.clone();
            w.remove(1);
            inputs.push(w.join(" "));
        }
        inputs.push(t.clone());
    }
    let ctx = DialogueContext::new();
    let t0 = Instant::now();
    let _ = recognizer.recognize_tolerant("warm up", language, &ctx);
    println!(
        "{lang} tolerant: first call (builds the word sounds) {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let mut micros = Vec::with_capacity(inputs.len() * rounds);
    let mut matched = 0;
    for round in 0..rounds {
        for text in &inputs {
            let start = Instant::now();
            let m = recognizer.recognize_tolerant(text, language, &ctx);
            micros.push(start.elapsed().as_secs_f64() * 1e6);
            matched += usize::from(round == 0 && m.is_some());
        }
    }
    micros.sort_by(f64::total_cmp);
    println!(
        "{lang} tolerant: {} sentences ({matched} matched) x {rounds}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        inputs.len(),
        percentile(&micros, 0.50),
        percentile(&micros, 0.99),
        micros.last().copied().unwrap_or(0.0)
    );
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
        tolerant(&recognizer, lang, &language, &texts);
    }
}
