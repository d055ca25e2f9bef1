//! skylark's grammar engine against hassil (PyPI, Home Assistant's reference matcher) on the
//! same grammar (the built-in catalog's YAML files) and the same sentences (the grammar test
//! tables without follow-up context), in one run: `cargo bench --bench nlu_vs_hassil`.
//!
//! Prints, per language: load time and mean match time of each and their ratio, how many
//! sentences each matched, and how often skylark agrees with hassil (same intent and same slot
//! values) on the sentences hassil matches. hassil runs in the project's venv
//! (`$SKYLARK_PYTHON`, default `~/.cache/skylark/venv/bin/python`; `scripts/test.sh` installs it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer, SlotValue};

// Loads are short (about 1 ms here, 50 ms for hassil) and a shared 2-core VM jitters by a
// millisecond, so each engine loads many times and the median is kept.
const LOAD_ROUNDS: usize = 41;
const HASSIL_LOAD_ROUNDS: usize = 11;
const MATCH_ROUNDS: usize = 20;
const HASSIL_ROUNDS: usize = 3;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SKYLARK_PYTHON") {
        return p.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    cache.join("skylark/venv/bin/python")
}

/// hassil's answers (`hassil_run.py` JSON) for the sentences in `list` against the grammar in
/// `dir`.
fn hassil(python: &Path, script: &Path, dir: &Path, list: &Path, extra: &[String]) -> Value {
    let out = Command::new(python)
        .arg(script)
        .arg("--intents")
        .arg(dir)
        .arg("--sentences")
        .arg(list)
        .args(extra)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "run {} (install hassil: scripts/test.sh): {e}",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "hassil failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("hassil JSON")
}

/// Sentences of a test table that need no previous turn.
fn sentences(lang: &str) -> Vec<String> {
    let path = format!("{}/tests/data/nlu/{lang}.tsv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| l.split('\t').nth(3).map(str::trim).unwrap_or("").is_empty())
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[derive(Debug, PartialEq)]
enum Val {
    Num(f64),
    Text(String),
}

fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => (x - y).abs() < 1e-9,
        (Val::Text(x), Val::Text(y)) => x == y,
        _ => false,
    }
}

fn from_json(v: &Value) -> Val {
    match v {
        Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => match s.parse::<f64>() {
            Ok(n) => Val::Num(n),
            Err(_) => Val::Text(s.clone()),
        },
        other => Val::Text(other.to_string()),
    }
}

fn from_slot(v: &SlotValue) -> Val {
    match v.as_f64() {
        Some(n) => Val::Num(n),
        None => match v.as_str() {
            Some(s) => match s.parse::<f64>() {
                Ok(n) => Val::Num(n),
                Err(_) => Val::Text(s.to_string()),
            },
            None => Val::Text(format!("{v:?}")),
        },
    }
}

fn main() {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/hassil_run.py");
    println!(
        "{:<6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>11} {:>11} {:>8} {:>10}",
        "lang",
        "sentences",
        "hassil ok",
        "skylark",
        "agree",
        "agree %",
        "load h/s ms",
        "match h/s µs",
        "load ×",
        "match ×"
    );
    let mut disagreements = Vec::new();
    let mut contact_disagreements = Vec::new();
    for lang in ["en", "zh-CN"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/intents")
            .join(lang);
        let texts = sentences(lang);
        let list = std::env::temp_dir().join(format!(
            "skylark-nlu-bench-{lang}-{}.json",
            std::process::id()
        ));
        std::fs::write(&list, serde_json::to_string(&texts).expect("json"))
            .expect("write sentence list");

        // skylark: load + compile, then match every sentence many times.
        let mut load_ms = Vec::new();
        let mut recognizer = None;
        for _ in 0..LOAD_ROUNDS {
            let t = Instant::now();
            let grammar = Grammar::load(std::slice::from_ref(&dir)).expect("catalog loads");
            recognizer = Some(Recognizer::new(grammar).expect("catalog compiles"));
            load_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let recognizer = recognizer.expect("loaded");
        let language = Language::parse(lang).expect("language");
        let ctx = DialogueContext::new();
        let mut ours = Vec::new();
        let mut match_us = Vec::new();
        for round in 0..MATCH_ROUNDS {
            for text in &texts {
                let t = Instant::now();
                let m = recognizer.recognize(text, &language, &ctx);
                match_us.push(t.elapsed().as_secs_f64() * 1e6);
                if round == 0 {
                    ours.push(m);
                }
            }
        }

        // hassil on the same files and sentences.
        let rounds = [
            "--rounds".to_string(),
            HASSIL_ROUNDS.to_string(),
            "--load-rounds".into(),
            HASSIL_LOAD_ROUNDS.to_string(),
        ];
        let h = hassil(&python, &script, &dir, &list, &rounds);
        let h_load_ms = median(
            h["load_s"]
                .as_array()
                .expect("load_s")
                .iter()
                .filter_map(Value::as_f64)
                .map(|s| s * 1e3)
                .collect(),
        );
        let h_match_us = mean(
            &h["match_s"]
                .as_array()
                .expect("match_s")
                .iter()
                .filter_map(Value::as_f64)
                .map(|s| s * 1e6)
                .collect::<Vec<_>>(),
        );
        let results = h["results"].as_array().expect("results");
        assert_eq!(results.len(), texts.len());

        let (hassil_ok, agree) = agreement(lang, &texts, results, &ours, &mut disagreements);
        let ours_ok = ours.iter().filter(|m| m.is_some()).count();
        let s_load = median(load_ms);
        let s_match = mean(&match_us);
        println!(
            "{lang:<6} {:>9} {:>9} {:>9} {:>9} {:>7.1}% {:>5.1}/{:<5.2} {:>6.0}/{:<5.1} {:>7.0}× {:>9.0}×",
            texts.len(),
            hassil_ok,
            ours_ok,
            agree,
            100.0 * agree as f64 / hassil_ok.max(1) as f64,
            h_load_ms,
            s_load,
            h_match_us,
            s_match,
            h_load_ms / s_load,
            h_match_us / s_match,
        );

        // Agreement again, with the same address book in both engines.
        let pairs: Vec<(String, String)> = contacts(lang)
            .iter()
            .map(|c| (c.to_string(), c.to_string()))
            .collect();
        let book = std::env::temp_dir().join(format!(
            "skylark-nlu-bench-contacts-{}.json",
            std::process::id()
        ));
        std::fs::write(&book, serde_json::to_string(&pairs).expect("json"))
            .expect("write contacts");
        let with_list = [
            "--list".to_string(),
            format!("contact={}", book.display()),
            "--rounds".into(),
            "1".into(),
            "--load-rounds".into(),
            "1".into(),
        ];
        let h = hassil(&python, &script, &dir, &list, &with_list);
        let _ = std::fs::remove_file(&list);
        let _ = std::fs::remove_file(&book);
        recognizer.set_list("contact", pairs);
        let ours: Vec<_> = texts
            .iter()
            .map(|t| recognizer.recognize(t, &language, &ctx))
            .collect();
        let mut with_book = Vec::new();
        let (hassil_ok, agree) = agreement(
            lang,
            &texts,
            h["results"].as_array().expect("results"),
            &ours,
            &mut with_book,
        );
        println!(
            "{:<6} with the {} contacts of both engines' address book: hassil matched {hassil_ok}, skylark agrees on {agree} ({:.1}%)",
            "",
            contacts(lang).len(),
            100.0 * agree as f64 / hassil_ok.max(1) as f64
        );
        contact_disagreements.extend(with_book);
    }
    if !contact_disagreements.is_empty() {
        println!(
            "\nwith the address book, sentences hassil matched where skylark differs ({}):",
            contact_disagreements.len()
        );
        for d in contact_disagreements.iter().take(20) {
            println!("  {d}");
        }
    }
    println!(
        "\nhassil {} via {}",
        hassil_version(&python),
        python.display()
    );
    if !disagreements.is_empty() {
        println!(
            "\nsentences hassil matched where skylark differs ({}):",
            disagreements.len()
        );
        for d in disagreements.iter().take(20) {
            println!("  {d}");
        }
    }
}

/// On the sentences hassil matched: (how many, how many skylark gives the same intent and
/// slots for); the others are added to `disagreements`.
fn agreement(
    lang: &str,
    texts: &[String],
    results: &[Value],
    ours: &[Option<skylark::nlu::IntentMatch>],
    disagreements: &mut Vec<String>,
) -> (usize, usize) {
    let (mut hassil_ok, mut agree) = (0, 0);
    for (i, r) in results.iter().enumerate() {
        let Some(intent) = r["intent"].as_str() else {
            continue;
        };
        hassil_ok += 1;
        let theirs: BTreeMap<String, Val> = r["slots"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
            .unwrap_or_default();
        let ok = match &ours[i] {
            Some(m) if m.intent == intent => {
                let mine: BTreeMap<String, Val> = m
                    .slots
                    .iter()
                    .map(|(k, v)| (k.clone(), from_slot(v)))
                    .collect();
                mine.len() == theirs.len()
                    && mine
                        .iter()
                        .all(|(k, v)| theirs.get(k).is_some_and(|t| same(v, t)))
            }
            _ => false,
        };
        if ok {
            agree += 1;
        } else {
            disagreements.push(format!(
                "{lang}: {:?}\n    hassil:  {intent} {theirs:?}\n    skylark: {:?}",
                texts[i],
                ours[i]
                    .as_ref()
                    .map(|m| (m.intent.clone(), m.slots.clone()))
            ));
        }
    }
    (hassil_ok, agree)
}

/// The address book a phone hands the car (`SetList contact`), given to both engines for
/// the second agreement figure: with known names, "send a message to Alice saying ..." no
/// longer leaves hassil a lone wildcard to take the whole rest of the sentence.
fn contacts(lang: &str) -> &'static [&'static str] {
    if lang.starts_with("zh") {
        &[
            "张三",
            "李四",
            "王五",
            "小王",
            "妈妈",
            "爸爸",
            "老婆",
            "王经理",
        ]
    } else {
        &[
            "Alice", "Bob", "John", "Jane", "Peter", "Sarah", "Anna", "David", "Mom", "Dad",
        ]
    }
}

fn hassil_version(python: &Path) -> String {
    Command::new(python)
        .args([
            "-c",
            "from importlib.metadata import version; print(version('hassil'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
