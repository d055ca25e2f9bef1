//! Fuzzing in CI on stable Rust: every fuzz target (`src/fuzzing.rs`) on every input of its
//! kept corpus (`fuzz/corpus/NAME/`, seeds plus what the libFuzzer runs found worth keeping),
//! then on a fixed number of random mutations of it (bit flips, byte and chunk edits,
//! splices, tokens the parsers care about). A target that panics fails the test, and the input
//! is written to `target/fuzz-failures/NAME-*` to replay with `cargo +nightly fuzz run NAME
//! FILE`. The long coverage-guided runs are `cargo +nightly fuzz run` (see fuzz/README.md).
//!
//! `SKYLARK_FUZZ_MUTATIONS=N` changes the number of mutations per target (default 30000, a few seconds).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use skylark::fuzzing::TARGETS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root().join("fuzz/corpus").join(name);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("corpus file");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

/// xorshift64*: a fixed seed, so a failure here fails the same way on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes the parsers branch on: YAML and JSON structure, WAV chunk ids, TOML, SSE fields,
/// numbers at the edges.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"  ",
    b"- ",
    b": ",
    b"\"",
    b"'",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"&a ",
    b"*a",
    b"|\n",
    b"#",
    b"\t",
    b"<",
    b">",
    b"(",
    b")",
    b"|",
    b"{x}",
    b"\\",
    b"RIFF",
    b"WAVE",
    b"fmt ",
    b"data",
    b"LIST",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\x7f\xff\x00\x00",
    b"= ",
    b"[llm]",
    b"[tts]",
    b"data: ",
    b"[DONE]",
    b"1e999",
    b"-1",
    b"NaN",
    b"18446744073709551616",
    "二十二".as_bytes(),
    b"\xf0\x9f\x98\x80",
    b"\xc3",
];

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 if at < v.len() => {
                let n = 1 + rng.below((v.len() - at).min(64));
                v.drain(at..at + n);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            4 if at < v.len() => {
                // Repeat a chunk (deep nesting, long lines, many list items).
                let n = 1 + rng.below((v.len() - at).min(32));
                let chunk = v[at..at + n].to_vec();
                for _ in 0..1 + rng.below(40) {
                    v.splice(at..at, chunk.iter().copied());
                }
            }
            5 if !other.is_empty() => {
                // Splice: this input's head, another's tail.
                let from = rng.below(other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ => v.truncate(at),
        }
    }
    v.truncate(256 * 1024);
    v
}

fn run_one(name: &str, target: fn(&[u8]), label: &str, input: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| target(input))) {
        Ok(()) => Ok(()),
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let dir = root().join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{label}"));
            let _ = std::fs::write(&file, input);
            Err(format!("{name} panicked on {} ({why})", file.display()))
        }
    }
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    let mutations: usize = std::env::var("SKYLARK_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    // The panics are caught and reported below; keep the default hook's noise out.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for &(name, target) in TARGETS {
        let inputs = corpus(name);
        assert!(!inputs.is_empty(), "fuzz/corpus/{name} is empty");
        for (file, bytes) in &inputs {
            if let Err(e) = run_one(name, target, file, bytes) {
                failures.push(e);
            }
        }
        let mut rng = Rng(0x5eed ^ (name.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for i in 0..mutations {
            let (_, a) = &inputs[rng.below(inputs.len())];
            let (_, b) = &inputs[rng.below(inputs.len())];
            let m = mutate(&mut rng, a, b);
            if let Err(e) = run_one(name, target, &format!("mutation-{i}"), &m) {
                failures.push(e);
                break; // one reproducer per target is enough
            }
        }
    }
    let _ = std::panic::take_hook();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The corpus is kept small enough to replay in seconds and to review.
#[test]
fn the_kept_corpus_stays_small() {
    let mut total = 0u64;
    for &(name, _) in TARGETS {
        let dir = root().join("fuzz/corpus").join(name);
        for (file, bytes) in corpus(name) {
            assert!(
                bytes.len() <= 64 * 1024,
                "{}: {} bytes",
                Path::new(&dir).join(file).display(),
                bytes.len()
            );
            total += bytes.len() as u64;
        }
    }
    assert!(total <= 4 * 1024 * 1024, "fuzz/corpus holds {total} bytes");
}
