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
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[nlu]\ntolerant = false\n\n[semantic]\nenabled = false\n",
    )
    .expect("write config");
    let config = config.to_string_lossy().into_owned();
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
