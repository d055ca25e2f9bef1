//! The grammar on the hand-written paraphrase set (tests/data/paraphrases/, see its README):
//! intent right, wrong actions and slots right per language and half.
//!
//! `cargo test --release --test paraphrases -- --nocapture` prints the figures;
//! `SKYLARK_PARAPHRASE_MISSES=test` (or `dev`) also lists every miss of that half.
//! The test fails when the set stops covering every intent of the catalog in both halves,
//! names an intent the catalog lacks, or when the grammar falls below the floors below
//! (the figures measured when the catalog gained places and plans, minus a small margin).

use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer, SlotValue};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

struct Row {
    split: String,
    text: String,
    intent: String,
    slots: serde_json::Map<String, serde_json::Value>,
}

fn load(lang: &str) -> Vec<Row> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/paraphrases/{lang}.tsv"));
    let table =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = Vec::new();
    for (n, line) in table.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            cols.len(),
            4,
            "{}:{}: need 4 columns",
            path.display(),
            n + 1
        );
        assert!(
            cols[0] == "dev" || cols[0] == "test",
            "{}:{}: split is dev or test",
            path.display(),
            n + 1
        );
        let slots: serde_json::Value = serde_json::from_str(cols[3])
            .unwrap_or_else(|e| panic!("{}:{}: slots: {e}", path.display(), n + 1));
        let serde_json::Value::Object(slots) = slots else {
            panic!("{}:{}: slots must be a JSON object", path.display(), n + 1)
        };
        rows.push(Row {
            split: cols[0].into(),
            text: cols[1].into(),
            intent: cols[2].trim().into(),
            slots,
        });
    }
    rows
}

/// Free text compares without case, spaces and surrounding punctuation.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !"，。？！、".contains(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn slot_equals(got: &SlotValue, want: &serde_json::Value) -> bool {
    match want {
        serde_json::Value::Number(n) => got.as_f64() == n.as_f64(),
        serde_json::Value::String(s) => fold(&got.to_string()) == fold(s),
        other => fold(&got.to_string()) == fold(&other.to_string()),
    }
}

#[derive(Default)]
struct Score {
    rows: usize,
    intent_right: usize,
    wrong_action: usize,
    slots_right: usize,
    misses: Vec<String>,
}

impl Score {
    fn pct(n: usize, d: usize) -> f64 {
        if d == 0 {
            0.0
        } else {
            100.0 * n as f64 / d as f64
        }
    }
    fn line(&self, label: &str) -> String {
        format!(
            "{label}: {} requests, intent right {:.1} %, wrong actions {:.1} %, slots right {:.1} %",
            self.rows,
            Self::pct(self.intent_right, self.rows),
            Self::pct(self.wrong_action, self.rows),
            Self::pct(self.slots_right, self.rows),
        )
    }
}

fn score(r: &Recognizer, lang: &str, rows: &[Row], split: &str) -> Score {
    let language = Language::parse(lang).unwrap();
    let mut s = Score::default();
    for row in rows.iter().filter(|r| r.split == split) {
        s.rows += 1;
        let got = r.recognize(&row.text, &language, &DialogueContext::new());
        let got_intent = got.as_ref().map(|m| m.intent.as_str()).unwrap_or("");
        if got_intent == row.intent {
            s.intent_right += 1;
            let slots_ok = row.slots.iter().all(|(k, want)| {
                got.as_ref()
                    .and_then(|m| m.slots.get(k))
                    .is_some_and(|v| slot_equals(v, want))
            });
            if slots_ok {
                s.slots_right += 1;
            } else {
                s.misses.push(format!(
                    "  slots  {} → {:?} (want {})",
                    row.text,
                    got.as_ref().map(|m| &m.slots),
                    serde_json::Value::Object(row.slots.clone())
                ));
            }
        } else {
            if !got_intent.is_empty() {
                s.wrong_action += 1;
            }
            s.misses.push(format!(
                "  intent {} → {:?} (want {:?})",
                row.text, got_intent, row.intent
            ));
        }
    }
    s
}

fn run(lang: &str, floors: (f64, f64, f64)) {
    let grammar = Grammar::builtin().expect("built-in catalog loads");
    let r = Recognizer::new(grammar).expect("built-in catalog compiles");
    let rows = load(lang);
    assert!(
        rows.len() >= 300,
        "{lang}: {} requests, want ≥ 300",
        rows.len()
    );

    // Coverage: every catalog intent in both halves, no unknown intent, some no-intent rows.
    let catalog: BTreeSet<&str> = r.intents().iter().map(String::as_str).collect();
    let mut halves: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in &rows {
        if !row.intent.is_empty() {
            assert!(
                catalog.contains(row.intent.as_str()),
                "{lang}: unknown intent {:?}",
                row.intent
            );
        }
        halves
            .entry(row.intent.as_str())
            .or_default()
            .insert(row.split.as_str());
    }
    for intent in &catalog {
        let h = halves.get(intent).cloned().unwrap_or_default();
        assert!(
            h.contains("dev") && h.contains("test"),
            "{lang}: intent {intent} must appear in both halves (has {h:?})"
        );
    }
    assert!(
        halves.get("").is_some_and(|h| h.len() == 2),
        "{lang}: no-intent rows in both halves"
    );

    let dev = score(&r, lang, &rows, "dev");
    let test = score(&r, lang, &rows, "test");
    println!("{}", dev.line(&format!("grammar {lang} dev ")));
    println!("{}", test.line(&format!("grammar {lang} test")));
    match std::env::var("SKYLARK_PARAPHRASE_MISSES").as_deref() {
        Ok("dev") => dev.misses.iter().for_each(|m| println!("{m}")),
        Ok(_) => test.misses.iter().for_each(|m| println!("{m}")),
        Err(_) => {}
    }
    let (intent_floor, wrong_ceiling, slots_floor) = floors;
    assert!(
        Score::pct(test.intent_right, test.rows) >= intent_floor,
        "{}",
        test.line(lang)
    );
    assert!(
        Score::pct(test.wrong_action, test.rows) <= wrong_ceiling,
        "{}",
        test.line(lang)
    );
    assert!(
        Score::pct(test.slots_right, test.rows) >= slots_floor,
        "{}",
        test.line(lang)
    );
}

#[test]
fn english_paraphrases() {
    run("en", (82.0, 2.0, 78.0));
}

#[test]
fn mandarin_paraphrases() {
    run("zh-CN", (90.0, 2.0, 88.0));
}
