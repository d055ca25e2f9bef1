//! Cost of tolerant matching against the whole built-in catalog, beside the exact path in the
//! same run: `cargo bench --bench nlu_tolerant`.
//!
//! Exact: every sentence of tests/data/nlu/{en,zh-CN}.tsv through `Recognizer::recognize`.
//! Tolerant: `Recognizer::recognize_tolerant` on misheard transcripts (whisper's own, and the
//! tsv sentences with a word misheard), unrelated speech, and the tsv sentences themselves —
//! it runs on every one, as it would after an exact miss. Prints p50 / p99 / max per language.

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

const HEARD_EN: &[&str] = &[
    "Closeness and roof.",
    "Force the music.",
    "The frost melt wind shield.",
    "Set the pass in just side to 24 degrees.",
    "Open the center.",
    "the weather in the news today was mostly about the election",
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    "I had a really nice time at the party last night",
];
const HEARD_ZH: &[&str] = &[
    "打开空条",
    "把文度调到二十二度",
    "今天的新闻主要是关于选举的",
];

fn report(name: &str, micros: &mut [f64], accepted: usize, total: usize) {
    micros.sort_by(f64::total_cmp);
    println!(
        "{name}: {total} sentences ({accepted} with an intent) x rounds: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        percentile(micros, 0.50),
        percentile(micros, 0.99),
        micros.last().copied().unwrap_or(0.0)
    );
}

fn main() {
    let recognizer =
        Recognizer::new(Grammar::builtin().expect("catalog loads")).expect("catalog compiles");
    let rounds: usize = std::env::var("NLU_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    println!("rounds: {rounds}");
    let ctx = DialogueContext::new();
    for (lang, heard) in [("en", HEARD_EN), ("zh-CN", HEARD_ZH)] {
        let language = Language::parse(lang).expect("valid tag");
        let texts = sentences(lang);
        let mut exact = Vec::new();
        let mut exact_hits = 0;
        for round in 0..rounds * 10 {
            for text in &texts {
                let start = Instant::now();
                let m = recognizer.recognize(text, &language, &ctx);
                exact.push(start.elapsed().as_secs_f64() * 1e6);
                exact_hits += usize::from(round == 0 && m.is_some());
            }
        }
        report(
            &format!("{lang} exact"),
            &mut exact,
            exact_hits,
            texts.len(),
        );
        // Tolerant: whisper's transcripts, the tsv sentences with their second word dropped
        // (a misheard or lost word), and the tsv sentences as they are.
        let mut inputs: Vec<String> = heard.iter().map(|s| s.to_string()).collect();
        for t in &texts {
            let words: Vec<&str> = t.split_whitespace().collect();
            if words.len() > 2 {
                let mut w = words.clone();
                w.remove(1);
                inputs.push(w.join(" "));
            }
            inputs.push(t.clone());
        }
        // Build the word sounds once, as the first tolerant call of a daemon does.
        let t0 = Instant::now();
        let _ = recognizer.recognize_tolerant("warm up", &language, &ctx);
        println!(
            "{lang} first tolerant call (builds the word sounds): {:.1} ms",
            t0.elapsed().as_secs_f64() * 1e3
        );
        let mut tolerant = Vec::new();
        let mut hits = 0;
        for round in 0..rounds {
            for text in &inputs {
                let start = Instant::now();
                let m = recognizer.recognize_tolerant(text, &language, &ctx);
                tolerant.push(start.elapsed().as_secs_f64() * 1e6);
                hits += usize::from(round == 0 && m.is_some());
            }
        }
        report(
            &format!("{lang} tolerant"),
            &mut tolerant,
            hits,
            inputs.len(),
        );
    }
}
