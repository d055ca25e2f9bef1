//! `skylark recognize`: text → intent in process, no daemon; one sentence, or one a line from
//! stdin. Exit 0 whenever recognition ran (a sentence without intent is a result: intent "",
//! source "none").

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use skylark::engine::{Engine, EngineConfig, Recognition, Stages};
use skylark::nlu::{Grammar, Language, Recognizer};

use super::Context;
use crate::RecognizeArgs;

/// The built-in catalog plus `extra` (files or folders), or `extra` alone without `builtin`.
pub fn load_recognizer(extra: &[PathBuf], builtin: bool) -> Result<Recognizer> {
    let mut grammar = if builtin {
        Grammar::builtin().context("the built-in intent catalog")?
    } else {
        Grammar::new()
    };
    if !extra.is_empty() {
        grammar.merge(Grammar::load(extra)?);
    }
    Ok(Recognizer::new(grammar)?)
}

pub fn run(ctx: &Context, args: RecognizeArgs) -> Result<ExitCode> {
    let config = ctx.config();
    let recognizer = if args.intents.is_empty() {
        skylark::assistant::configured_recognizer(config)?
    } else {
        load_recognizer(&args.intents, args.with_builtin)?
    };
    let mut engine_config = EngineConfig::from_config(config)?;
    let tag = args.lang.clone().unwrap_or_else(|| config.language.clone());
    let language = Language::parse(&tag)?;
    if !recognizer.supports(&language) {
        let have: Vec<String> = recognizer
            .languages()
            .iter()
            .map(|l| l.to_string())
            .collect();
        anyhow::bail!(
            "no intent grammar for language {tag}; the grammars loaded cover: {}",
            have.join(", ")
        );
    }
    engine_config.language = language;
    if args.exact {
        engine_config.tolerant = false;
    }
    // Without --lang, a sentence written in Chinese characters is Mandarin whatever the
    // configured language, as a bilingual driver would expect.
    let mandarin =
        (args.lang.is_none() && recognizer.supports(&Language::mandarin())).then_some("zh-CN");
    let language_of =
        |text: &str| mandarin.filter(|_| text.chars().any(skylark::nlu::normalize::is_cjk));
    let engine = Engine::new(engine_config, recognizer, Stages::text_only());
    let out = std::io::stdout();
    let mut out = out.lock();
    if let Some(audio) = &args.audio {
        let language = engine.language();
        let grammar = engine.command_grammar(&language);
        let transcript = super::speech::transcribe_file(ctx, audio, &language, Some(&grammar))?;
        let r = engine.recognize(&transcript, None)?;
        if args.json || args.jsonl {
            writeln!(out, "{}", to_json(&transcript, &r))?;
        } else {
            writeln!(out, "{transcript}\t{}", human(&r))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(text) = &args.text {
        let r = engine.recognize(text, language_of(text))?;
        if args.json || args.jsonl {
            writeln!(out, "{}", to_json(text, &r))?;
        } else {
            writeln!(out, "{}", human(&r))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut all = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading sentences from stdin")?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let r = engine.recognize(text, language_of(text))?;
        if args.jsonl {
            writeln!(out, "{}", to_json(text, &r))?;
        } else if args.json {
            all.push(to_json(text, &r));
        } else {
            writeln!(out, "{text}\t{}", human(&r))?;
        }
    }
    if args.json {
        writeln!(out, "{}", serde_json::Value::Array(all))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The contract's JSON object: `{"text","intent","slots","confidence","source"}`.
fn to_json(text: &str, r: &Recognition) -> serde_json::Value {
    serde_json::json!({
        "text": text,
        "intent": r.intent,
        "slots": r.slots,
        "confidence": r.confidence,
        "source": r.source.as_str(),
    })
}

fn human(r: &Recognition) -> String {
    if r.intent.is_empty() {
        return "(no intent)".into();
    }
    let slots: Vec<String> = r.slots.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{} {} (confidence {:.2}, {})",
        r.intent,
        slots.join(" "),
        r.confidence,
        r.source.as_str()
    )
    .replace("  ", " ")
}
