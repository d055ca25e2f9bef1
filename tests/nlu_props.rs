//! Whatever text arrives (ASR garbage, emoji, mixed scripts, huge input), recognition never
//! panics: it returns a match or a clean `None`, and grammar loading returns a match or an error.

use proptest::prelude::*;
use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer};
use std::sync::OnceLock;

fn recognizer() -> &'static Recognizer {
    static R: OnceLock<Recognizer> = OnceLock::new();
    R.get_or_init(|| Recognizer::new(Grammar::builtin().unwrap()).unwrap())
}

fn languages() -> [Language; 2] {
    [Language::english(), Language::mandarin()]
}

/// Pieces that make adversarial sentences: catalog words, numbers, punctuation, emoji,
/// combining marks, full-width and Traditional characters, RTL text.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("turn on the".to_string()),
        Just("把温度调到".to_string()),
        Just("二十二点五度".to_string()),
        Just("twenty two point".to_string()),
        Just("call".to_string()),
        Just("打電話給".to_string()),
        Just("％".to_string()),
        Just("-".to_string()),
        Just("百分之".to_string()),
        Just("😀🚗".to_string()),
        Just("e\u{301}".to_string()),
        Just("مرحبا".to_string()),
        Just("零下".to_string()),
        Just("99999999999999999999".to_string()),
        Just("1.2.3".to_string()),
        "\\PC{0,8}",
        "[a-z ]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        for lang in languages() {
            let _ = recognizer().recognize(&text, &lang, &DialogueContext::new());
        }
    }

    #[test]
    fn mixed_pieces_never_panic(pieces in proptest::collection::vec(piece(), 0..12)) {
        let text = pieces.join(" ");
        for lang in languages() {
            if let Some(m) = recognizer().recognize(&text, &lang, &DialogueContext::new()) {
                prop_assert!(m.confidence > 0.0 && m.confidence <= 1.0);
                prop_assert!(!m.intent.is_empty());
            }
        }
    }

    #[test]
    fn random_grammars_load_or_fail_cleanly(text in "\\PC{0,300}") {
        let mut g = Grammar::new();
        let _ = g.add_source("random.yaml", &text);
        let _ = Recognizer::new(g);
    }

    #[test]
    fn random_templates_parse_or_fail_with_a_position(t in "[a-z()\\[\\]{}<>|;: \\\\]{0,40}") {
        if let Err(e) = skylark::nlu::template::parse(&t) {
            prop_assert!(e.offset <= t.chars().count());
        }
    }
}

#[test]
fn one_megabyte_of_text_is_a_clean_no_match() {
    let big: String = "把温度调到二十二度 set the temperature to 22 ".repeat((1 << 20) / 40);
    assert!(big.len() >= 1 << 20);
    // The tokeniser itself copes with it too (the recognizer refuses such input up front).
    let n = skylark::nlu::normalize::normalize(&big, true);
    assert!(n.tokens.len() > 1 << 18);
    for lang in languages() {
        assert!(recognizer()
            .recognize(&big, &lang, &DialogueContext::new())
            .is_none());
    }
    let one_word = "a".repeat(1 << 20);
    assert!(recognizer()
        .recognize(&one_word, &Language::english(), &DialogueContext::new())
        .is_none());
}

#[test]
fn empty_and_blank_input_is_no_match() {
    for text in ["", " ", "\n\t", "。，！", "🙂"] {
        for lang in languages() {
            assert!(
                recognizer()
                    .recognize(text, &lang, &DialogueContext::new())
                    .is_none(),
                "{text:?}"
            );
        }
    }
}

#[test]
fn a_pathological_grammar_does_not_stall() {
    // Many optional words and wildcards: exponential paths, bounded by the step budget.
    let mut yaml = String::from("language: en\nlists:\n  w: {wildcard: true}\nintents:\n  X:\n    data:\n      - sentences:\n          - \"");
    for i in 0..30 {
        yaml.push_str(&format!("[a] {{w:s{i}}} "));
    }
    yaml.push_str("end\"\n");
    let mut g = Grammar::new();
    g.add_source("p.yaml", &yaml).unwrap();
    let r = Recognizer::new(g).unwrap();
    let text = "a ".repeat(60);
    let _ = r.recognize(
        &format!("{text} end"),
        &Language::english(),
        &DialogueContext::new(),
    );
}

#[test]
fn runaway_grammars_are_refused_with_an_error() {
    // A 500-deep chain of expansion rules: an error, not a stack overflow.
    let mut yaml = String::from("language: en\nexpansion_rules:\n");
    for i in 0..500 {
        yaml.push_str(&format!("  r{i}: \"x <r{}>\"\n", i + 1));
    }
    yaml.push_str("  r500: \"end\"\nintents:\n  X:\n    data:\n      - sentences: [\"<r0>\"]\n");
    let mut g = Grammar::new();
    g.add_source("deep.yaml", &yaml).unwrap();
    let err = Recognizer::new(g).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");

    // Nested permutations multiply: refused once the program grows too large.
    let perm = "(a;b;c;d;e)";
    let nested = format!("({perm};{perm};{perm};{perm};{perm})");
    let yaml =
        format!("language: en\nintents:\n  X:\n    data:\n      - sentences: [\"{nested}\"]\n");
    let mut g = Grammar::new();
    g.add_source("perm.yaml", &yaml).unwrap();
    let err = Recognizer::new(g).unwrap_err();
    assert!(err.to_string().contains("perm.yaml:5:"), "{err}");
}
