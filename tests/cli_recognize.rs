//! `skylark recognize`: text → intent in process, the command line's contract.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn skylark(args: &[&str], stdin: Option<&str>) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_skylark"))
        .args(args)
        .env("XDG_CONFIG_HOME", dir.path())
        .env("SKYLARK_MODELS_DIR", dir.path())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run skylark");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("skylark output")
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn one_sentence_as_json() {
    let out = skylark(
        &["recognize", "set the temperature to 22 degrees", "--json"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let v = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(v["text"], "set the temperature to 22 degrees");
    assert_eq!(v["intent"], "climate.set_temperature");
    assert_eq!(
        v["slots"]["temperature"], 22,
        "numbers are JSON numbers: {v}"
    );
    assert_eq!(v["source"], "grammar");
    assert_eq!(v["confidence"], 1.0);
}

#[test]
fn stdin_lines_as_jsonl_in_mandarin() {
    let out = skylark(
        &["recognize", "--lang", "zh", "--jsonl"],
        Some("把温度调到二十二度\n\n打开车窗\n今天天气怎么样\n随便说点什么吧\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 4, "one object per non-empty line: {lines:?}");
    assert_eq!(lines[0]["intent"], "climate.set_temperature");
    assert_eq!(lines[0]["slots"]["temperature"], 22);
    assert_eq!(lines[1]["intent"], "window.open");
    assert_eq!(lines[2]["intent"], "weather.get");
    assert_eq!(lines[3]["intent"], "");
    assert_eq!(lines[3]["source"], "none");
}

#[test]
fn intents_replace_the_builtin_catalog_unless_with_builtin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let grammar = dir.path().join("coffee.yaml");
    std::fs::write(
        &grammar,
        "language: en\nintents:\n  kitchen.make_coffee:\n    data:\n      - sentences:\n          - \"make (me|us) a coffee\"\n",
    )
    .expect("grammar");
    let path = grammar.to_str().expect("utf-8");
    let out = skylark(
        &["recognize", "make me a coffee", "--intents", path, "--json"],
        None,
    );
    assert_eq!(
        json(String::from_utf8_lossy(&out.stdout).trim())["intent"],
        "kitchen.make_coffee",
        "{out:?}"
    );
    let out = skylark(
        &["recognize", "turn on the ac", "--intents", path, "--json"],
        None,
    );
    assert_eq!(
        json(String::from_utf8_lossy(&out.stdout).trim())["intent"],
        "",
        "the built-in catalog is replaced"
    );
    let out = skylark(
        &[
            "recognize",
            "turn on the ac",
            "--intents",
            path,
            "--with-builtin",
            "--json",
        ],
        None,
    );
    assert_eq!(
        json(String::from_utf8_lossy(&out.stdout).trim())["intent"],
        "climate.set_ac"
    );
}

#[test]
fn human_output_and_errors() {
    let out = skylark(&["recognize", "find a charging station nearby"], None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("navigation.search_nearby ")
            && text.contains("category=charging_station")
            && text.contains("along=nearby"),
        "{text}"
    );
    let out = skylark(&["recognize", "hello", "--lang", "fr"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no intent grammar for language fr"),
        "{out:?}"
    );
    let out = skylark(
        &[
            "recognize",
            "--intents",
            "/nonexistent/grammar.yaml",
            "hello",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/grammar.yaml"),
        "{out:?}"
    );
}

#[test]
fn chinese_text_without_lang_is_mandarin() {
    let out = skylark(
        &["recognize", "--jsonl"],
        Some("把温度调到二十二度\nopen the sunroof\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines[0]["intent"], "climate.set_temperature", "{lines:?}");
    assert_eq!(lines[1]["intent"], "sunroof.open", "{lines:?}");
    // An explicit --lang wins: the English grammar does not understand Chinese.
    let out = skylark(
        &["recognize", "把温度调到二十二度", "--lang", "en", "--json"],
        None,
    );
    assert_eq!(
        json(String::from_utf8_lossy(&out.stdout).trim())["intent"],
        ""
    );
}
