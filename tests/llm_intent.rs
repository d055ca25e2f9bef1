//! The LLM intent fallback on the real SmolLM2-135M: over 200 sentences in English and
//! Mandarin, every answer parses and names a catalog intent or `none` (validity must be
//! 100%); accuracy must stay above a floor well under what was measured, and accuracy,
//! latency and what other thresholds would give are printed.
//!
//! A missing model fails the test with the fix (`skylark models fetch`); nothing is skipped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use skylark::llm::{DecoderModel, IntentEngine, IntentOptions, LlmOptions, DEFAULT_MODEL_SUBDIR};
use skylark::nlu::{Grammar, Language, Recognizer};

fn load() -> DecoderModel {
    let models = skylark::models::default_models_dir();
    let dir = models.join(DEFAULT_MODEL_SUBDIR);
    assert!(
        dir.join("model.onnx").is_file(),
        "the lite LLM is not installed at {}: run `skylark models fetch`",
        dir.display()
    );
    let opts = LlmOptions {
        threads: 2,
        models_dir: models,
        ..LlmOptions::default()
    };
    DecoderModel::load(&dir, &opts).unwrap_or_else(|e| panic!("loading the lite LLM failed: {e}"))
}

fn cases() -> Vec<(Language, String, String)> {
    let text = include_str!("data/llm/intents.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "bad line {l:?}");
            let lang = if f[0] == "zh" {
                Language::mandarin()
            } else {
                Language::english()
            };
            (lang, f[1].to_string(), f[2].to_string())
        })
        .collect()
}

#[test]
fn constrained_intents_always_parse_and_name_a_catalog_intent() {
    let recognizer = Recognizer::new(Grammar::builtin().expect("catalog")).expect("compile");
    let mut model = load();
    let engine = IntentEngine::new(&model);
    // The README's table of other settings comes from these (e.g. the model alone at 0.7:
    // SKYLARK_LLM_THRESHOLD=0.7 SKYLARK_LLM_RETRIEVAL=2 SKYLARK_LLM_SHORTLIST=0).
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
    let mut opts = IntentOptions::default();
    if let Some(v) = env("SKYLARK_LLM_THRESHOLD") {
        opts.threshold = v;
    }
    if let Some(v) = env("SKYLARK_LLM_RETRIEVAL") {
        opts.retrieval_threshold = v;
    }
    if let Some(v) = env("SKYLARK_LLM_SHORTLIST") {
        opts.shortlist = v as usize;
    }
    let cancel = AtomicBool::new(false);
    let cases = cases();
    let limit: usize = std::env::var("SKYLARK_LLM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    // language -> (n, valid, correct after threshold, correct as named, grammar matched, ms)
    type Stats = (usize, usize, usize, usize, usize, Vec<f64>);
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    // (language, expected, intent acted on, from the nearest known request)
    let mut acted: Vec<(String, String, String, bool)> = Vec::new();
    // language -> (nearest request right, right intent among the first 6, model's pick and
    // nearest both right, only the model's pick right, only the nearest right)
    let mut nearest: BTreeMap<String, [usize; 5]> = BTreeMap::new();
    let per_lang = limit.min(cases.len());
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for (lang, sentence, expected) in &cases {
        let n = taken.entry(lang.to_string()).or_default();
        if *n >= per_lang {
            continue;
        }
        *n += 1;
        let catalog = recognizer.catalog(lang).expect("catalog");
        let schema = &catalog.intents;
        let names: Vec<&str> = schema.iter().map(|i| i.name.as_str()).collect();
        let t = Instant::now();
        let r = engine
            .recognize(&mut model, sentence, &catalog, &opts, &cancel)
            .unwrap_or_else(|e| panic!("{sentence:?}: {e}"));
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let near = engine.nearest_intents(&catalog, sentence, 6);
        let near_right = near.first() == Some(expected);
        let named_right = &r.named == expected;
        let e = nearest.entry(lang.to_string()).or_default();
        e[0] += usize::from(near_right);
        e[1] += usize::from(near.contains(expected));
        e[2] += usize::from(named_right && near_right);
        e[3] += usize::from(named_right && !near_right);
        e[4] += usize::from(!named_right && near_right);
        let grammar = recognizer
            .recognize(sentence, lang, &Default::default())
            .is_some();
        // Validity: the JSON parses, its intent is in the catalog or `none`, its slots are
        // slots of that intent; the returned intent is "" or a catalog intent.
        let v: serde_json::Value = serde_json::from_str(&r.json)
            .unwrap_or_else(|e| panic!("{sentence:?}: output {:?} does not parse: {e}", r.json));
        let named = v["intent"]
            .as_str()
            .unwrap_or_else(|| panic!("{sentence:?}: no intent in {}", r.json));
        assert!(
            named == "none" || names.contains(&named),
            "{sentence:?}: {named} is not in the catalog"
        );
        assert_eq!(named, r.named);
        let slots = v["slots"]
            .as_object()
            .unwrap_or_else(|| panic!("{sentence:?}: no slots in {}", r.json));
        if let Some(i) = schema.iter().find(|i| i.name == named) {
            for k in slots.keys() {
                assert!(
                    i.slot(k).is_some(),
                    "{sentence:?}: slot {k} is not a slot of {named}"
                );
            }
        } else {
            assert!(slots.is_empty(), "{sentence:?}: none with slots {}", r.json);
        }
        assert!(r.intent.is_empty() || names.contains(&r.intent.as_str()));
        assert!((0.0..=1.0).contains(&r.confidence));
        let got = if r.intent.is_empty() {
            "none"
        } else {
            r.intent.as_str()
        };
        let e = stats
            .entry(lang.to_string())
            .or_insert((0, 0, 0, 0, 0, Vec::new()));
        e.0 += 1;
        e.1 += 1;
        e.2 += usize::from(got == expected);
        e.3 += usize::from(named == expected);
        e.4 += usize::from(grammar);
        e.5.push(ms);
        if !r.intent.is_empty() {
            acted.push((
                lang.to_string(),
                expected.clone(),
                r.intent.clone(),
                r.retrieved,
            ));
        }
        eprintln!(
            "{lang}\t{sentence}\texpected {expected}\tgot {got} ({:.2}{})\t{}\t{ms:.0} ms{}",
            r.confidence,
            if r.retrieved { ", nearest request" } else { "" },
            r.json,
            if grammar {
                "\t[grammar matches too]"
            } else {
                ""
            }
        );
    }
    for (lang, (n, valid, ok, ok_named, grammar, mut ms)) in stats {
        ms.sort_by(f64::total_cmp);
        let p50 = ms[ms.len() / 2];
        let p90 = ms[(ms.len() * 9 / 10).min(ms.len() - 1)];
        eprintln!(
            "SUMMARY {lang}: {n} sentences, validity {valid}/{n}, accuracy {ok}/{n} ({:.0}%) with threshold {}, \
             {ok_named}/{n} ({:.0}%) as named; grammar also matched {grammar}; latency p50 {p50:.0} ms, p90 {p90:.0} ms",
            100.0 * ok as f64 / n as f64,
            opts.threshold,
            100.0 * ok_named as f64 / n as f64
        );
        assert_eq!(valid, n);
        // Measured 64% (en) and 78% (zh-CN) with SmolLM2-135M and the defaults (67% / 68%
        // with the model alone at 0.7, before the nearest request's second opinion); a
        // broken prompt or example retrieval falls back to naming nothing (25%, the share of
        // open questions in the set). The floor catches that, not a point or two of noise.
        if n >= 100 {
            assert!(
                ok * 100 >= n * 55,
                "{lang}: accuracy {ok}/{n} is under the 55% floor (measured 64-78%)"
            );
        }
    }
    // The nearest known request alone, and how it and the model's pick complement each other.
    for (lang, [right, among, both, model_only, nearest_only]) in &nearest {
        eprintln!(
            "NEAREST {lang}: the nearest request's intent is right {right}, the right intent is among the first 6 {among}; \
             right by both the model's pick (as named) and the nearest {both}, by the model only {model_only}, by the nearest only {nearest_only}"
        );
    }
    // Intents acted on, rightly and wrongly (a wrong one is worse than none: the car does
    // something it was not asked), and how many came from the nearest known request.
    for lang in ["en", "zh-CN"] {
        let rows: Vec<_> = acted.iter().filter(|r| r.0 == lang).collect();
        let count = |right: bool, retrieved: Option<bool>| {
            rows.iter()
                .filter(|(_, exp, got, by)| {
                    (exp == got) == right && retrieved.is_none_or(|b| b == *by)
                })
                .count()
        };
        let on_questions = rows.iter().filter(|(_, exp, _, _)| exp == "none").count();
        eprintln!(
            "ACTED {lang}: right intents {} ({} from the nearest request), wrong intents {} ({} from the nearest request; {on_questions} on open questions)",
            count(true, None),
            count(true, Some(true)),
            count(false, None),
            count(false, Some(true)),
        );
    }
    assert!(!cancel.load(Ordering::Relaxed));
}
