//! The lite LLM on the real converted SmolLM2-135M-Instruct model from the models dir.
//!
//! A missing model fails the test with the fix (`skylark models fetch`); nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use skylark::llm::{
    ChatMessage, DecoderModel, FinishReason, GenerationParams, LlmError, LlmOptions,
    DEFAULT_MODEL_SUBDIR,
};

const QUESTION: &str = "What is the capital of France?";

fn models_dir() -> PathBuf {
    skylark::models::default_models_dir()
}

fn model_dir() -> PathBuf {
    let dir = models_dir().join(DEFAULT_MODEL_SUBDIR);
    assert!(
        dir.join("model.onnx").is_file(),
        "the lite LLM is not installed at {}: run `skylark models fetch`",
        dir.display()
    );
    dir
}

fn load() -> DecoderModel {
    let opts = LlmOptions {
        threads: 2,
        models_dir: models_dir(),
        ..LlmOptions::default()
    };
    match DecoderModel::load(&model_dir(), &opts) {
        Ok(m) => m,
        Err(e) => panic!("loading the lite LLM failed: {e}"),
    }
}

#[test]
fn answers_capital_of_france_with_paris_and_streams_the_same_text() {
    let mut model = load();
    let layout = model.layout().clone();
    assert_eq!(
        (layout.num_layers, layout.kv_heads, layout.head_dim),
        (30, 3, 64),
        "{layout:?}"
    );
    assert!(layout.has_position_ids);

    let params = GenerationParams {
        max_tokens: 40,
        stop: vec![],
        ..Default::default()
    };
    let cancel = AtomicBool::new(false);
    let mut chunks: Vec<String> = Vec::new();
    let generation = model
        .generate(&[ChatMessage::user(QUESTION)], &params, &cancel, |c| {
            chunks.push(c.to_owned())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        generation.text.contains("Paris"),
        "answer: {:?}",
        generation.text
    );
    assert_eq!(generation.finish, FinishReason::EndOfTurn, "{generation:?}");
    assert_eq!(chunks.concat(), generation.text);
    assert!(!generation.text.contains("<|im_end|>"));
    assert!(generation.prompt_tokens > 10);
}

#[test]
fn stop_string_and_cancel_end_the_generation() {
    let mut model = load();
    let cancel = AtomicBool::new(false);
    // The greedy answer is "The capital of France is Paris."; stop before "Paris".
    let params = GenerationParams {
        max_tokens: 40,
        stop: vec![" Paris".into()],
        ..Default::default()
    };
    let g = model
        .generate(&[ChatMessage::user(QUESTION)], &params, &cancel, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.finish, FinishReason::StopString, "{g:?}");
    assert!(
        !g.text.contains("Paris") && g.text.contains("France"),
        "{:?}",
        g.text
    );

    // A spoken answer stops after its first sentence when asked to, mid-generation.
    let params = GenerationParams {
        max_tokens: 96,
        max_sentences: 1,
        ..Default::default()
    };
    let mut streamed = String::new();
    let g = model
        .generate(
            &[ChatMessage::user("Tell me about the city of Paris.")],
            &params,
            &cancel,
            |c| streamed.push_str(c),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.finish, FinishReason::Sentences, "{g:?}");
    assert_eq!(streamed, g.text);
    let t = g.text.trim_end();
    assert!(t.ends_with(['.', '!', '?']), "{t:?}");
    assert_eq!(t.matches(". ").count(), 0, "more than one sentence: {t:?}");

    let params = GenerationParams {
        max_tokens: 3,
        stop: vec![],
        ..Default::default()
    };
    let g = model
        .generate(&[ChatMessage::user(QUESTION)], &params, &cancel, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (g.finish, g.token_ids.len()),
        (FinishReason::Length, 3),
        "{g:?}"
    );

    let cancelled = AtomicBool::new(true);
    let g = model
        .generate(&[ChatMessage::user(QUESTION)], &params, &cancelled, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.finish, FinishReason::Cancelled);
    assert!(g.text.is_empty());
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SKYLARK_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("skylark/venv/bin/python")
}

#[test]
fn first_step_logits_match_python_onnxruntime() {
    let dir = model_dir();
    let py = python();
    assert!(
        py.is_file(),
        "Python venv not found at {} (set SKYLARK_PYTHON)",
        py.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/convert/llm_reference.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg("--model")
        .arg(&dir)
        .arg("--prompt")
        .arg(QUESTION)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "llm_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let ref_ids: Vec<u32> = reference["token_ids"]
        .as_array()
        .expect("token_ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect();
    let ref_logits: Vec<f32> = reference["logits"]
        .as_array()
        .expect("logits")
        .iter()
        .map(|v| v.as_f64().expect("f") as f32)
        .collect();

    let mut model = load();
    let messages = [ChatMessage::user(QUESTION)];
    assert_eq!(
        model.render_prompt(&messages).unwrap(),
        reference["prompt"].as_str().unwrap()
    );
    assert_eq!(
        model.encode_chat(&messages).unwrap(),
        ref_ids,
        "prompt tokens differ from Python tokenizers"
    );
    let logits = model
        .first_step_logits(&messages)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(logits.len(), ref_logits.len());
    assert_eq!(logits.len(), 49152);
    let max_diff = logits
        .iter()
        .zip(&ref_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("first-step logits: max |rust - python| = {max_diff}");
    assert!(max_diff <= 1e-3, "max |rust - python| = {max_diff}");
}

#[test]
fn missing_tokenizer_names_the_file_and_the_fix() {
    let real = model_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(real.join("model.onnx"), tmp.path().join("model.onnx"))
        .expect("symlink");
    std::fs::copy(real.join("config.json"), tmp.path().join("config.json")).expect("copy");
    let err = DecoderModel::load(
        tmp.path(),
        &LlmOptions {
            threads: 1,
            models_dir: models_dir(),
            ..LlmOptions::default()
        },
    )
    .expect_err("loading without tokenizer.json must fail");
    assert!(
        matches!(
            err,
            LlmError::MissingFile {
                what: "tokenizer",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("tokenizer.json") && msg.contains("skylark models fetch"),
        "{msg}"
    );

    let empty = tempfile::tempdir().expect("tempdir");
    let err = DecoderModel::load(empty.path(), &LlmOptions::default()).expect_err("no model");
    assert!(err.to_string().contains("model.onnx"), "{err}");
}

/// A long greedy generation gives the very tokens Python onnxruntime gives: the in-place KV
/// cache (which the real model uses; the check at load chose it) is exact, including when
/// the generation outgrows its first buffer (prompt + 128 positions) and it is regrown.
#[test]
fn long_greedy_generation_matches_python_token_for_token() {
    let mut model = load();
    assert_eq!(
        model.kv_mode(),
        skylark::llm::KvMode::Shared,
        "GroupQueryAttention shares its KV buffer"
    );
    let prompt = "Write a long story about a lighthouse keeper.";
    let params = GenerationParams {
        max_tokens: 200,
        ..Default::default()
    };
    let cancel = AtomicBool::new(false);
    let g = model
        .generate(&[ChatMessage::user(prompt)], &params, &cancel, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        g.token_ids.len() > 140,
        "too short to regrow the buffer: {}",
        g.token_ids.len()
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/convert/llm_reference.py");
    let out = Command::new(python())
        .arg(&script)
        .arg("--model")
        .arg(model_dir())
        .arg("--prompt")
        .arg(prompt)
        .args(["--generate", "200"])
        .output()
        .unwrap_or_else(|e| panic!("running llm_reference.py: {e}"));
    assert!(
        out.status.success(),
        "llm_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let ids: Vec<u32> = reference["generated_ids"]
        .as_array()
        .expect("generated_ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect();
    assert_eq!(
        g.token_ids, ids,
        "Rust: {:?}\nPython: {:?}",
        g.text, reference["answer"]
    );
}
