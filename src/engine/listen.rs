//! The listening turn (push-to-talk `StartListening`, or what follows a wake word): capture one
//! utterance with partial transcripts, transcribe it, then as `Ask` (recognise → handler →
//! answer → speak). Capture and recognition block, so they run on blocking threads; the turn
//! stays cancellable at every await.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::event::Event;
use super::run::{finish, respond, until_cancelled, Outcome};
use super::stages::{Audio, Stage};
use super::turn::{CancelToken, StageTimings, State, TurnId, TurnKind, TurnStatus};
use super::Inner;
use crate::nlu::Language;

pub(super) async fn listen(
    inner: Arc<Inner>,
    id: TurnId,
    cancel: Arc<CancelToken>,
    language: Language,
    speak: bool,
) {
    let span = tracing::info_span!("turn", id = id.0, kind = "listen");
    async move {
        let t0 = Instant::now();
        let mut timings = StageTimings::default();
        let body = async {
            timings.queued = Some(t0.elapsed());
            let text = match hear(&inner, id, &cancel, &language, &mut timings).await {
                Ok(Some(text)) => text,
                Ok(None) => {
                    return Outcome {
                        status: TurnStatus::NoIntent,
                        response: String::new(),
                        intent: None,
                    }
                }
                Err(why) => {
                    tracing::error!("listening failed: {why}");
                    return Outcome {
                        status: TurnStatus::Failed,
                        response: why,
                        intent: None,
                    };
                }
            };
            respond(&inner, id, &text, &language, &mut timings, &cancel, speak).await
        };
        let outcome = until_cancelled(body, &cancel).await;
        finish(&inner, id, TurnKind::Listen, outcome, timings, t0);
    }
    .instrument(span)
    .await
}

/// Capture (emitting partial transcripts) and transcribe. `Ok(None)`: nothing was said.
async fn hear(
    inner: &Arc<Inner>,
    id: TurnId,
    cancel: &Arc<CancelToken>,
    language: &Language,
    timings: &mut StageTimings,
) -> Result<Option<String>, String> {
    let capture = match &inner.stages.capture {
        Stage::Ready(c) => c.clone(),
        Stage::Missing(why) => return Err(why.clone()),
    };
    let transcriber = match &inner.stages.transcriber {
        Stage::Ready(t) => t.clone(),
        Stage::Missing(why) => return Err(why.clone()),
    };
    let (tx, mut partials) = tokio::sync::mpsc::unbounded_channel::<String>();
    let t = Instant::now();
    // Partials are decoded on a thread of their own, so a slow decode never delays the end
    // of speech; one at a time (a newer partial waits in a slot of one, others are dropped),
    // and none starts once the capture ended (the final one needs the recogniser).
    let capturing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (slot, queued) = std::sync::mpsc::sync_channel::<Audio>(1);
    {
        let (token, transcriber, language, capturing) = (
            cancel.clone(),
            transcriber.clone(),
            language.clone(),
            capturing.clone(),
        );
        let span = tracing::info_span!("stage", name = "partial_transcripts");
        let worker = move || {
            let _entered = span.enter();
            let mut last = String::new();
            for so_far in queued {
                if !capturing.load(std::sync::atomic::Ordering::SeqCst) || token.is_cancelled() {
                    break;
                }
                match transcriber.transcribe(&so_far, &language, &token) {
                    Ok(text) if !text.is_empty() && text != last => {
                        last = text.clone();
                        let _ = tx.send(text);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!("partial transcript failed: {e}"),
                }
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("skylark-partial".into())
            .spawn(worker)
        {
            tracing::warn!("no partial transcripts: cannot start their thread: {e}");
        }
    }
    let job = {
        let token = cancel.clone();
        super::blocking::stage("capture", move || {
            capture.capture_with_partials(&token, &mut |so_far: &Audio| {
                let _ = slot.try_send(so_far.clone());
            })
        })
    };
    tokio::pin!(job);
    let captured = loop {
        tokio::select! {
            Some(text) = partials.recv() => {
                inner.emit(Event::Transcript { turn: id, text, is_final: false });
            }
            r = &mut job => break r,
        }
    };
    capturing.store(false, std::sync::atomic::Ordering::SeqCst);
    // A partial still being decoded now would arrive after the final transcript: drop it.
    drop(partials);
    timings.capture = Some(t.elapsed());
    let audio = match captured {
        Ok(Ok(audio)) => audio,
        Ok(Err(e)) => return Err(e.0),
        Err(e) => return Err(format!("capture stopped: {e}")),
    };
    inner.set_turn_state(id, State::Thinking);
    if audio.samples.is_empty() {
        tracing::info!("nothing was said");
        return Ok(None);
    }
    let t = Instant::now();
    let (token, language) = (cancel.clone(), language.clone());
    // Command mode: the active grammar guides the recogniser (see `asr::prompt`).
    let grammar = inner.recognizer.samples(&language);
    let result = super::blocking::stage("transcribe", move || {
        let sentences: Vec<String> = grammar.into_iter().map(|s| s.text).collect();
        transcriber.transcribe_command(&audio, &language, &sentences, &token)
    })
    .await;
    timings.transcribe = Some(t.elapsed());
    let text = match result {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => return Err(e.0),
        Err(e) => return Err(format!("speech recognition stopped: {e}")),
    };
    tracing::info!(
        text,
        transcribe_ms = t.elapsed().as_millis() as u64,
        "final transcript"
    );
    inner.emit(Event::Transcript {
        turn: id,
        text: text.clone(),
        is_final: true,
    });
    Ok((!text.trim().is_empty()).then_some(text))
}
