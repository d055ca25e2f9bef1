//! `skylark listen`: the microphone in process, transcripts and intents on the terminal until
//! Ctrl-C. Partial transcripts overwrite the current line; the final one gets its own line,
//! followed by the intent. With `wakeword.enabled` a turn starts at each wake word; otherwise
//! turns follow one another (each ends at the end of speech), like holding push-to-talk.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use skylark::assistant::BuildOptions;
use skylark::engine::{Event, TurnStatus};
use tokio::sync::broadcast::error::RecvError;

use super::Context;

pub fn run(ctx: &Context) -> Result<ExitCode> {
    let config = ctx.config();
    let assistant = skylark::assistant::build(config, &ctx.models_dir, BuildOptions::device())?;
    let (engine, listener) = (assistant.engine, assistant.listener);
    let rt = super::runtime()?;
    let code = rt.block_on(async move {
        let mut events = engine.subscribe();
        let wake = super::daemon::start_wake_word(&engine, ctx, listener);
        let wake_word = engine.wake_word_enabled();
        if wake_word {
            eprintln!(
                "listening for the wake word ({}); Ctrl-C stops",
                config.wakeword.keywords.join(", ")
            );
        } else {
            eprintln!("listening; speak a command. Ctrl-C stops");
        }
        let printer = async {
            loop {
                if !wake_word {
                    if let Err(e) = engine.start_listening(None) {
                        eprintln!("skylark listen: {e}");
                        return ExitCode::from(1);
                    }
                }
                // Print until this turn (or, with a wake word, any turn) finishes.
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            if print(&event) && !wake_word {
                                break;
                            }
                        }
                        Err(RecvError::Lagged(n)) => eprintln!("({n} events missed)"),
                        Err(RecvError::Closed) => return ExitCode::SUCCESS,
                    }
                }
            }
        };
        let code = tokio::select! {
            c = printer => c,
            _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        };
        engine.shutdown(Duration::from_millis(500)).await;
        drop(wake);
        code
    });
    rt.shutdown_timeout(Duration::from_millis(300));
    Ok(code)
}

/// Prints one event; true when a turn finished.
fn print(event: &Event) -> bool {
    let mut out = std::io::stdout().lock();
    match event {
        Event::WakeWordDetected { keyword, score } => {
            let _ = writeln!(out, "[wake word {keyword} {score:.2}]");
        }
        Event::Transcript {
            text,
            is_final: false,
            ..
        } => {
            let _ = write!(out, "\r\x1b[K… {text}");
        }
        Event::Transcript {
            text,
            is_final: true,
            ..
        } => {
            let _ = writeln!(out, "\r\x1b[K> {text}");
        }
        Event::IntentRecognized {
            intent,
            slots,
            confidence,
            source,
            ..
        } => {
            let slots = serde_json::to_string(slots).unwrap_or_default();
            let _ = writeln!(
                out,
                "  intent {intent} {slots} ({confidence:.2}, {})",
                source.as_str()
            );
        }
        Event::ResponseChunk { text, .. } => {
            let _ = writeln!(out, "  answer: {text}");
        }
        Event::TurnFinished { status, .. } => {
            if *status != TurnStatus::Ok {
                let _ = writeln!(out, "\r\x1b[K  ({})", status.as_str());
            }
            let _ = out.flush();
            return true;
        }
        _ => {}
    }
    let _ = out.flush();
    false
}
