//! `skylark ask` as a user runs it, on the real models: a whole turn in process — grammar,
//! then the lite LLM for an intent or an answer — printed as `intent:` and `answer:` lines.

use std::process::{Command, Output};

fn ask(args: &[&str], models: Option<&std::path::Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skylark"));
    cmd.arg("ask")
        .args(args)
        .arg("--no-speak")
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test")
        .env("SKYLARK_LOG", "warn");
    if let Some(m) = models {
        cmd.env("SKYLARK_MODELS_DIR", m);
    }
    cmd.output().expect("run skylark")
}

/// A config with the tiers before the LLM off (tolerant matching, the semantic tier), so a
/// sentence the exact grammar misses reaches the LLM; the folder must outlive its use.
fn llm_only_config() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[nlu]\ntolerant = false\n\n[semantic]\nenabled = false\n",
    )
    .expect("write config");
    let config = config.to_string_lossy().into_owned();
    (dir, config)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn grammar_intents_come_with_the_catalog_response() {
    let out = ask(&["turn on the ac"], None);
    assert!(out.status.success(), "{}", all(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("intent: climate.set_ac state=on (grammar, confidence 1.00)"),
        "{text}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("answer: ") && l.len() > 10),
        "{text}"
    );

    let out = ask(&["把温度调到二十二度", "--lang", "zh-CN"], None);
    assert!(out.status.success(), "{}", all(&out));
    assert!(
        stdout(&out).starts_with("intent: climate.set_temperature temperature=22 (grammar"),
        "{}",
        all(&out)
    );
}

#[test]
fn the_llm_understands_a_paraphrase_and_answers_a_question() {
    // With every tier on, the paraphrase is understood (the tolerant grammar match takes it).
    let out = ask(&["the windshield is all fogged up"], None);
    assert!(out.status.success(), "{}", all(&out));
    assert!(
        stdout(&out).starts_with("intent: climate.set_defrost state=on"),
        "{}",
        all(&out)
    );
    // With only the exact grammar before it, the LLM itself understands it.
    let (_dir, config) = llm_only_config();
    let out = ask(
        &["the windshield is all fogged up", "--config", &config],
        None,
    );
    assert!(out.status.success(), "{}", all(&out));
    assert!(
        stdout(&out).starts_with("intent: climate.set_defrost") && stdout(&out).contains("(llm, "),
        "{}",
        all(&out)
    );

    let out = ask(&["What is the capital of France?"], None);
    assert!(out.status.success(), "{}", all(&out));
    let text = stdout(&out);
    assert!(!text.contains("intent:"), "{text}");
    assert!(
        text.starts_with("answer: ") && text.contains("Paris"),
        "{text}"
    );
}

/// Without the LLM installed, the grammar still answers and an unknown sentence gets the
/// apology — never an error.
#[test]
fn without_the_llm_the_grammar_answers_alone() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = ask(&["turn on the ac"], Some(empty.path()));
    assert!(out.status.success(), "{}", all(&out));
    assert!(
        stdout(&out).starts_with("intent: climate.set_ac state=on (grammar"),
        "{}",
        all(&out)
    );
    let out = ask(&["what is the capital of france"], Some(empty.path()));
    assert!(out.status.success(), "{}", all(&out));
    let text = stdout(&out);
    assert!(
        !text.contains("intent:") && text.starts_with("answer: "),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no_intent"),
        "{}",
        all(&out)
    );
}

/// The answer gate: with the tiers before the LLM off (so these reach its answer path), a
/// question SmolLM2-135M answers with made-up facts — in English or in Mandarin — ends in an
/// honest "can't answer" and none of the model's answer is printed, while "What is the
/// capital of France?" is still answered.
#[test]
fn the_answer_gate_stops_made_up_answers_in_both_languages() {
    let (_dir, config) = llm_only_config();
    for (question, lang, apology, nonsense) in [
        (
            "Who won the 1998 World Cup?",
            "en",
            "answer: Sorry, I can't answer that on the device.",
            "United States",
        ),
        (
            "天空为什么是蓝色的？",
            "zh-CN",
            "answer: 抱歉，这个问题我在设备上回答不了。",
            "color",
        ),
    ] {
        let out = ask(&[question, "--lang", lang, "--config", &config], None);
        assert!(out.status.success(), "{}", all(&out));
        let text = stdout(&out);
        assert_eq!(text.trim(), apology, "{question}: {}", all(&out));
        assert!(!text.contains(nonsense), "{text}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no_intent"),
            "{}",
            all(&out)
        );
    }
    let out = ask(
        &["What is the capital of France?", "--config", &config],
        None,
    );
    assert!(out.status.success(), "{}", all(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("answer: ") && text.contains("Paris"),
        "{}",
        all(&out)
    );
}

/// A Mandarin request whose template fixes the category (the user never said "restaurant")
/// is answered in Mandarin, not with the slot's English value ("正在为你查找restaurant").
#[test]
fn mandarin_searches_answer_without_english_values() {
    for (request, answer) in [
        ("我想找一家附近的火锅店", "answer: 正在为你查找火锅店。"),
        ("快没油了", "answer: 正在为你查找加油站。"),
        ("我饿了", "answer: 正在为你查找餐厅。"),
    ] {
        let out = ask(&[request, "--lang", "zh-CN"], None);
        assert!(out.status.success(), "{}", all(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with("intent: navigation.search_nearby"),
            "{request}: {}",
            all(&out)
        );
        assert_eq!(text.lines().nth(1), Some(answer), "{request}: {text}");
    }
}
