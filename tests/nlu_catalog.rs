//! The built-in catalog against data-driven sentence tables (tests/data/nlu/<lang>.tsv):
//! `sentence<TAB>intent<TAB>slots[<TAB>previous intent]`, slots as `key=value, key=value`
//! (numbers compared as numbers), intent `-` for "no match".

use skylark::nlu::{
    DialogueContext, Grammar, IntentMatch, Language, PreviousTurn, Recognizer, SlotValue,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn recognizer() -> Recognizer {
    let grammar =
        Grammar::builtin().unwrap_or_else(|e| panic!("built-in catalog does not load: {e}"));
    Recognizer::new(grammar).unwrap_or_else(|e| panic!("built-in catalog does not compile: {e}"))
}

fn parse_slots(text: &str) -> BTreeMap<String, SlotValue> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("bad slot {kv:?}: use key=value"));
            let v = v.trim();
            // `"…"` forces text (phone numbers); other numerals compare as numbers.
            let value = match (
                v.strip_prefix('"').and_then(|q| q.strip_suffix('"')),
                v.parse::<f64>(),
            ) {
                (Some(quoted), _) => SlotValue::Text(quoted.to_string()),
                (None, Ok(n)) => SlotValue::number(n),
                (None, Err(_)) => SlotValue::Text(v.to_string()),
            };
            (k.trim().to_string(), value)
        })
        .collect()
}

fn describe(m: &Option<IntentMatch>) -> String {
    match m {
        None => "no match".into(),
        Some(m) => format!("{} {:?} via {:?}", m.intent, m.slots, m.template),
    }
}

fn run_table(lang: &str) {
    run_file(lang, lang, true);
}

/// Runs `tests/data/nlu/<file>.tsv` in `lang`; `complete` also requires 10 passing sentences
/// for every intent of the catalog.
fn run_file(file: &str, lang: &str, complete: bool) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/nlu/{file}.tsv"));
    let table =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let r = recognizer();
    let language = Language::parse(lang).unwrap();
    let mut failures = Vec::new();
    let mut per_intent: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = 0;
    for (lineno, line) in table.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        rows += 1;
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 2,
            "{}:{}: need sentence<TAB>intent",
            path.display(),
            lineno + 1
        );
        let (text, intent) = (cols[0], cols[1].trim());
        let slots = parse_slots(cols.get(2).copied().unwrap_or(""));
        let mut ctx = DialogueContext::new();
        if let Some(prev) = cols.get(3).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let (prev_intent, prev_slots) = prev.split_once(' ').unwrap_or((prev, ""));
            ctx.previous = Some(PreviousTurn {
                intent: prev_intent.into(),
                slots: parse_slots(prev_slots),
            });
        }
        let got = r.recognize(text, &language, &ctx);
        let ok = match (&got, intent) {
            (None, "-") => true,
            (Some(m), want) => m.intent == want && m.slots == slots,
            (None, _) => false,
        };
        if ok {
            *per_intent.entry(intent.to_string()).or_default() += 1;
        } else {
            failures.push(format!(
                "  line {}: {text:?}: want {intent} {slots:?}, got {}",
                lineno + 1,
                describe(&got)
            ));
        }
    }
    assert!(rows > 0, "{} is empty", path.display());
    // Every intent of the catalog is exercised by at least 10 passing sentences.
    let mut thin = Vec::new();
    for name in r.intents().iter().filter(|_| complete) {
        let n = per_intent.get(name).copied().unwrap_or(0);
        if n < 10 {
            thin.push(format!("{name} ({n})"));
        }
    }
    assert!(
        failures.is_empty() && thin.is_empty(),
        "{lang}: {} of {rows} sentences failed:\n{}\nintents with fewer than 10 passing sentences: {}",
        failures.len(),
        failures.join("\n"),
        thin.join(", ")
    );
}

#[test]
fn english_sentences() {
    run_table("en");
}

#[test]
fn mandarin_sentences() {
    run_table("zh-CN");
}

#[test]
fn mandarin_sentences_in_traditional_characters() {
    run_file("zh-CN-traditional", "zh-CN", false);
}

#[test]
fn builtin_list_matches_the_folder() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/intents");
    let mut on_disk = Vec::new();
    for lang in std::fs::read_dir(&root).unwrap() {
        let lang = lang.unwrap().path();
        if !lang.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&lang).unwrap() {
            let f = f.unwrap().path();
            on_disk.push(format!(
                "{}/{}",
                lang.file_name().unwrap().to_string_lossy(),
                f.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    on_disk.sort();
    let mut embedded: Vec<String> = skylark::nlu::catalog::BUILTIN_FILES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    embedded.sort();
    assert_eq!(
        embedded, on_disk,
        "update BUILTIN_FILES in src/nlu/catalog.rs"
    );
    // Loading the folder from disk gives the same intents as the embedded copy.
    let from_disk = Grammar::load(&[root]).unwrap();
    assert_eq!(
        from_disk.intent_names(),
        Grammar::builtin().unwrap().intent_names()
    );
}

#[test]
fn catalog_has_every_contract_intent_in_both_languages() {
    let contract = [
        "climate.set_temperature",
        "climate.adjust_temperature",
        "climate.set_fan_speed",
        "climate.set_ac",
        "climate.set_recirculation",
        "climate.set_defrost",
        "window.open",
        "window.close",
        "sunroof.open",
        "sunroof.close",
        "seat.set_heating",
        "media.play",
        "media.pause",
        "media.resume",
        "media.next",
        "media.previous",
        "media.set_volume",
        "media.adjust_volume",
        "navigation.navigate_to",
        "navigation.search_nearby",
        "navigation.cancel",
        "phone.call",
        "phone.answer",
        "phone.hang_up",
        "message.send",
        "weather.get",
        "time.get",
        "assistant.cancel",
    ];
    let g = Grammar::builtin().unwrap();
    for lang in ["en", "zh-CN"] {
        let mut one = Grammar::new();
        for (name, text) in skylark::nlu::catalog::BUILTIN_FILES
            .iter()
            .filter(|(n, _)| n.starts_with(&format!("{lang}/")))
        {
            one.add_source(name, text).unwrap();
        }
        for intent in contract {
            assert!(
                one.intent_names().iter().any(|n| n == intent),
                "{lang} lacks {intent}"
            );
        }
    }
    assert_eq!(g.languages().len(), 2);
}
