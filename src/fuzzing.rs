//! The fuzz targets: each parser that reads what skylark does not control (grammar files,
//! client audio, the configuration, the lite model's intent JSON, a cloud model's tool calls and
//! its event stream), as a function of arbitrary bytes that must not panic and must keep the
//! parser's own promises (asserted here, so a broken promise is a crash the fuzzer reports).
//!
//! `fuzz/` runs them under libFuzzer (`cargo +nightly fuzz run NAME`, coverage-guided); the
//! test `tests/fuzz_corpus.rs` replays the kept corpus (`fuzz/corpus/NAME/`) and a few thousand
//! mutations of it on stable Rust, so CI fuzzes briefly without nightly. Not a stable API.

use std::path::Path;
use std::sync::OnceLock;

use crate::nlu::{DialogueContext, Grammar, IntentSchema, Language, Recognizer};

/// A target: arbitrary bytes in, a panic when a promise breaks.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/NAME.rs` and `fuzz/corpus/NAME/` call it.
pub const TARGETS: &[(&str, Target)] = &[
    ("grammar_yaml", grammar_yaml),
    ("client_audio", client_audio),
    ("config", config),
    ("intent_json", intent_json),
    ("tool_call", tool_call),
    ("cloud_stream", cloud_stream),
];

/// A grammar file: the fast YAML reader and the full one must agree wherever the fast one
/// answers (same tree, so the same depth limit), and the grammar built from it either loads
/// or names its error.
pub fn grammar_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    crate::nlu::yaml_agreement(text);
    let mut grammar = Grammar::new();
    if grammar.add_source("fuzz.yaml", text).is_ok() {
        // A grammar that loads compiles or says why; matching a sentence never panics.
        if let Ok(r) = Recognizer::new(grammar) {
            let context = DialogueContext::default();
            let heard = text.get(..64).unwrap_or(text);
            for language in r.languages() {
                let _ = r.recognize("turn on the light", &language, &context);
                let _ = r.recognize_tolerant(heard, &language, &context);
            }
        }
    }
}

/// Client audio (D-Bus `Transcribe`, `recognize --audio`) as a regular file would give it:
/// the first byte picks WAV or raw s16le, the rest is the file. Whatever comes back is
/// bounded by the cap on seconds and finite.
pub fn client_audio(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    const MAX_SECONDS: u32 = 5;
    if let Ok(samples) = crate::audio::input::read_client_bytes(bytes, mode & 1 == 1, MAX_SECONDS) {
        assert!(samples.len() <= (MAX_SECONDS * crate::audio::wav::TARGET_SAMPLE_RATE) as usize);
        assert!(samples.iter().all(|s| s.is_finite()));
    }
}

/// The configuration file: parsed and validated, or an error naming the file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = crate::config::Config::parse(text, Path::new("fuzz.toml")) {
        // What `skylark config show` prints reads back as the same configuration.
        let again = crate::config::Config::parse(&c.to_toml(), Path::new("shown.toml"));
        assert!(again.is_ok(), "{again:?}");
    }
}

/// The lite model's intent JSON under constrained decoding: the first line is the sentence,
/// the rest what the model writes after the fixed prefix. Whatever the automaton accepts to
/// the end is JSON naming a catalog intent (or `none`) with slots of that intent only.
pub fn intent_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (sentence, written) = text.split_once('\n').unwrap_or((&text, ""));
    let (intents, language) = catalog();
    if let Some(json) = crate::llm::accepted_intent_json(intents, language, sentence, written) {
        let v: serde_json::Value = match serde_json::from_str(&json) {
            Ok(v) => v,
            Err(e) => panic!("accepted output is not JSON ({e}): {json}"),
        };
        let name = v.get("intent").and_then(|n| n.as_str()).unwrap_or_default();
        let schema = intents.iter().find(|i| i.name == name);
        assert!(
            schema.is_some() || name == "none",
            "unknown intent in {json}"
        );
        if let (Some(schema), Some(slots)) = (schema, v.get("slots").and_then(|s| s.as_object())) {
            for key in slots.keys() {
                assert!(
                    schema.slots.iter().any(|s| &s.name == key),
                    "slot {key} is not one of {name}'s: {json}"
                );
            }
        }
    }
}

/// A cloud model's tool call: the first line is the function's name, the rest its arguments.
/// A call that is taken names a catalog intent with slots of that intent.
pub fn tool_call(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (name, arguments) = text.split_once('\n').unwrap_or((&text, ""));
    let (intents, _) = catalog();
    if let Ok((intent, slots)) = crate::llm::cloud::tools::intent_of(intents, name, arguments) {
        let schema = intents.iter().find(|i| i.name == intent);
        let Some(schema) = schema else {
            panic!("{intent} is not in the catalog");
        };
        for key in slots.keys() {
            assert!(schema.slots.iter().any(|s| &s.name == key), "{key}");
        }
    }
}

/// A cloud model's server-sent event stream, line by line, then its end.
pub fn cloud_stream(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut state = crate::llm::cloud::sse::StreamState::default();
    for line in text.split('\n') {
        if state.line(line).is_err() {
            return;
        }
    }
    let _ = state.finish();
}

/// The built-in English catalog's intents (built once: targets run millions of times).
fn catalog() -> (&'static [IntentSchema], &'static Language) {
    static CATALOG: OnceLock<(Vec<IntentSchema>, Language)> = OnceLock::new();
    let (intents, language) = CATALOG.get_or_init(|| {
        let built = Grammar::builtin()
            .and_then(Recognizer::new)
            .ok()
            .zip(Language::parse("en").ok())
            .and_then(|(r, en)| r.catalog(&en));
        match built {
            Some(c) => (c.intents.clone(), c.language.clone()),
            None => panic!("the built-in catalog does not load"),
        }
    });
    (intents, language)
}
