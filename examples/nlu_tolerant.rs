//! One sentence through the tolerant matcher, ROUNDS times, against the built-in catalog: the
//! loop to count or profile (instruction counts do not depend on the machine's load, unlike
//! `cargo bench --bench nlu`'s times).
//!
//!     cargo run --release --example nlu_tolerant -- LANG ROUNDS "SENTENCE"
//!     valgrind --tool=callgrind target/release/examples/nlu_tolerant en 6 "dial 555 1234"
//!
//! A warm-up call (which builds the word sounds) comes first, so the cost of one call is the
//! difference between two runs' counts (6 rounds and 1, say) divided by the extra rounds.
//! `cargo test --release --test nlu_tolerant -- --ignored slowest --nocapture` finds the
//! slowest sentences.

use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lang = args.next().unwrap_or_else(|| "en".to_string());
    let rounds: usize = match args.next() {
        Some(r) => r.parse()?,
        None => 1,
    };
    let text = args
        .next()
        .unwrap_or_else(|| "the quick brown fox jumps over the lazy dog".to_string());
    let recognizer = Recognizer::new(Grammar::builtin()?)?;
    let language = Language::parse(&lang)?;
    let ctx = DialogueContext::new();
    let _ = recognizer.recognize_tolerant("warm up", &language, &ctx);
    let mut matched = None;
    for _ in 0..rounds {
        matched = std::hint::black_box(recognizer.recognize_tolerant(&text, &language, &ctx));
    }
    match matched {
        Some(m) => println!("{text:?}: {} ({})", m.intent, m.confidence),
        None => println!("{text:?}: no match"),
    }
    Ok(())
}
