//! `skylark ask TEXT`: one whole turn in process — the grammar, then the lite LLM (intent or
//! spoken answer), the catalog's default response for an intent (no D-Bus handler runs here),
//! and the answer spoken unless `--no-speak`. Prints the intent line, then the answer as it
//! streams; exit 0 when the turn ended `ok` or `no_intent`, 1 otherwise.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use skylark::assistant::{AudioIn, BuildOptions};
use skylark::engine::{AskOptions, Event, TurnStatus};
use tokio::sync::broadcast::error::RecvError;

use super::Context;

pub fn run(ctx: &Context, text: &str, lang: Option<&str>, no_speak: bool) -> Result<ExitCode> {
    let config = ctx.config();
    let options = BuildOptions {
        transcriber: false,
        speaker: !no_speak,
        audio_in: AudioIn::None,
    };
    let engine = skylark::assistant::build(config, &ctx.models_dir, options)?.engine;
    // Loaded before the turn (a daemon loads them in the background instead): a one-shot
    // command should not answer without them only because they were still loading.
    skylark::assistant::load_language_models(&engine, config, &ctx.models_dir);
    let rt = super::runtime()?;
    let code = rt.block_on(async move {
        let mut events = engine.subscribe();
        let options = AskOptions {
            language: lang.map(str::to_string),
            speak: Some(!no_speak),
        };
        let turn = match engine.ask(text, options, std::future::ready(())) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("skylark ask: {e}");
                return ExitCode::from(1);
            }
        };
        let printer = async {
            let mut answered = false;
            loop {
                match events.recv().await {
                    Ok(Event::IntentRecognized {
                        turn: t,
                        intent,
                        slots,
                        confidence,
                        source,
                    }) if t == turn => {
                        let mut line = format!("intent: {intent}");
                        for (k, v) in &slots {
                            line.push_str(&format!(" {k}={v}"));
                        }
                        println!("{line} ({}, confidence {confidence:.2})", source.as_str());
                    }
                    Ok(Event::ResponseChunk { turn: t, text }) if t == turn => {
                        if !answered {
                            print!("answer: ");
                            answered = true;
                        }
                        print!("{text}");
                        let _ = std::io::stdout().flush();
                    }
                    Ok(Event::TurnFinished {
                        turn: t,
                        status,
                        response,
                        ..
                    }) if t == turn => {
                        if !answered && !response.is_empty() {
                            print!("answer: {response}");
                            answered = true;
                        }
                        if answered {
                            println!();
                        }
                        if status != TurnStatus::Ok {
                            eprintln!("turn {}: {}", turn.0, status.as_str());
                        }
                        return match status {
                            TurnStatus::Ok | TurnStatus::NoIntent => ExitCode::SUCCESS,
                            _ => ExitCode::from(1),
                        };
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => eprintln!("({n} events missed)"),
                    Err(RecvError::Closed) => return ExitCode::from(1),
                }
            }
        };
        let code = tokio::select! {
            c = printer => c,
            _ = tokio::signal::ctrl_c() => {
                let _ = engine.cancel(turn);
                ExitCode::from(130)
            }
        };
        engine.shutdown(Duration::from_millis(500)).await;
        code
    });
    rt.shutdown_timeout(Duration::from_millis(300));
    Ok(code)
}
