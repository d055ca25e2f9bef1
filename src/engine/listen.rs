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
use super::turn::{CancelToken, Mark, Span, State, TurnId, TurnKind, TurnStatus};
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
        let body = async {
            inner.span(id, Span::Queued, t0.elapsed());
            let text = match hear(&inner, id, &cancel, &language).await {
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
            respond(&inner, id, &text, &language, &cancel, speak).await
        };
        let outcome = until_cancelled(body, &cancel).await;
        finish(&inner, id, TurnKind::Listen, outcome);
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
    // When speech began: the first utterance-so-far the listener hands over started its
    // length ago (it hands it over only when caught up with the microphone).
    let speech_start = Arc::new(std::sync::OnceLock::<Instant>::new());
    let job = {
        let (token, speech_start) = (cancel.clone(), speech_start.clone());
        super::blocking::stage("capture", move || {
            capture.capture_with_partials(&token, &mut |so_far: &Audio| {
                speech_start.get_or_init(|| before(Instant::now(), audio_length(so_far)));
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
    let captured_at = Instant::now();
    inner.span(id, Span::Capture, captured_at - t);
    let audio = match captured {
        Ok(Ok(audio)) => audio,
        Ok(Err(e)) => return Err(e.0),
        Err(e) => return Err(format!("capture stopped: {e}")),
    };
    if !audio.samples.is_empty() {
        // Without a partial (a short command), the utterance ended at the end of capture: an
        // estimate late by the endpointer's trailing silence.
        let started = speech_start
            .get()
            .copied()
            .unwrap_or_else(|| before(captured_at, audio_length(&audio)));
        inner.with_trace(id, |trace| {
            trace.mark_speech_start(started);
            trace.mark_at(Mark::SpeechEnd, captured_at);
        });
    }
    inner.set_turn_state(id, State::Thinking);
    if audio.samples.is_empty() {
        tracing::info!("nothing was said");
        return Ok(None);
    }
    let t = Instant::now();
    let (token, language) = (cancel.clone(), language.clone());
    // Command mode: the active grammar guides the recogniser (see `asr::prompt`) and its
    // closest sentences are weighed against the audio.
    let grammar = inner.command_grammar(&language);
    let result = super::blocking::stage("transcribe", move || {
        transcriber.transcribe_command(&audio, &language, &grammar, &token)
    })
    .await;
    inner.span(id, Span::Transcribe, t.elapsed());
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

/// How long `audio` (16 kHz) lasts.
fn audio_length(audio: &Audio) -> std::time::Duration {
    let rate = f64::from(crate::audio::TARGET_SAMPLE_RATE);
    std::time::Duration::from_secs_f64(audio.samples.len() as f64 / rate)
}

/// `at - d`, or `at` if that is before the clock's origin.
fn before(at: Instant, d: std::time::Duration) -> Instant {
    at.checked_sub(d).unwrap_or(at)
}
