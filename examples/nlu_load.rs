//! Loads and compiles a grammar folder many times and prints the median: the loop to profile
//! when loading gets slower.
//!
//!     cargo run --release --example nlu_load -- [FOLDER] [ROUNDS]
//!     valgrind --tool=callgrind target/release/examples/nlu_load models/intents/en 10
//!
//! FOLDER defaults to `models/intents/en`, ROUNDS to 50. Under callgrind, the difference
//! between two round counts divided by their difference is the exact instruction count of
//! one load (`Grammar::load` + `Recognizer::new`), free of the machine's noise.

use skylark::nlu::{Grammar, Recognizer};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let folder = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/intents/en"));
    let rounds: usize = match args.next() {
        Some(r) => r.parse()?,
        None => 50,
    };
    let mut ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let recognizer = Recognizer::new(Grammar::load(std::slice::from_ref(&folder))?)?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        drop(std::hint::black_box(recognizer));
    }
    ms.sort_by(f64::total_cmp);
    match ms.get(ms.len() / 2) {
        Some(median) => println!(
            "{}: load + compile {median:.3} ms (median of {rounds})",
            folder.display()
        ),
        None => println!("no rounds"),
    }
    Ok(())
}
