//! Matches the sentences of a test table against a grammar folder many times and prints the
//! mean time per sentence: the loop to profile when matching gets slower.
//!
//!     cargo run --release --example nlu_match -- [LANG] [ROUNDS]
//!     perf record -g target/release/examples/nlu_match zh-CN 200
//!
//! LANG (`en` or `zh-CN`, default `en`) picks `models/intents/LANG` and the sentences of
//! `tests/data/nlu/LANG.tsv` that need no previous turn; ROUNDS defaults to 100.

use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer};
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lang = args.next().unwrap_or_else(|| "en".to_string());
    let rounds: usize = match args.next() {
        Some(r) => r.parse()?,
        None => 100,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let folder = root.join("models/intents").join(&lang);
    let table = std::fs::read_to_string(root.join("tests/data/nlu").join(format!("{lang}.tsv")))?;
    let sentences: Vec<&str> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| l.split('\t').nth(3).map(str::trim).unwrap_or("").is_empty())
        .filter_map(|l| l.split('\t').next())
        .collect();
    let recognizer = Recognizer::new(Grammar::load(std::slice::from_ref(&folder))?)?;
    let language = Language::parse(&lang)?;
    let ctx = DialogueContext::new();
    let start = Instant::now();
    let mut matched = 0usize;
    for _ in 0..rounds {
        for text in &sentences {
            matched += usize::from(
                std::hint::black_box(recognizer.recognize(text, &language, &ctx)).is_some(),
            );
        }
    }
    let calls = rounds * sentences.len();
    println!(
        "{lang}: {} sentences, {matched} matches over {rounds} rounds, {:.2} µs per sentence",
        sentences.len(),
        start.elapsed().as_secs_f64() * 1e6 / calls.max(1) as f64
    );
    Ok(())
}
