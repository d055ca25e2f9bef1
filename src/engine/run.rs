//! The turn procedures: what a turn does from start to finish, stage by stage, cancellable at
//! every await. Each ends through [`Inner::finish_turn`], which emits `TurnFinished`.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::error::EngineError;
use super::event::{Event, Property, Source};
use super::handlers::{DispatchError, HandlerCall};
use super::stages::Stage;
use super::turn::{
    CancelToken, Mark, Span, State, TurnId, TurnKind, TurnRecord, TurnStatus, TurnTrace,
};
use super::{ActiveTurn, Inner, Shared, RECENT_TURNS};
use crate::nlu::Language;

/// What a turn's body produced.
pub(super) struct Outcome {
    pub(super) status: TurnStatus,
    pub(super) response: String,
    pub(super) intent: Option<String>,
}

pub(super) async fn ask(
    inner: Arc<Inner>,
    id: TurnId,
    cancel: Arc<CancelToken>,
    text: String,
    language: Language,
    speak: bool,
    start: impl Future<Output = ()> + Send + 'static,
) {
    let span = tracing::info_span!("turn", id = id.0, kind = "ask");
    async move {
        let t0 = Instant::now();
        let body = async {
            start.await;
            inner.span(id, Span::Queued, t0.elapsed());
            respond(&inner, id, &text, &language, &cancel, speak).await
        };
        let outcome = until_cancelled(body, &cancel).await;
        finish(&inner, id, TurnKind::Ask, outcome);
    }
    .instrument(span)
    .await
}

pub(super) async fn speak(
    inner: Arc<Inner>,
    id: TurnId,
    cancel: Arc<CancelToken>,
    text: String,
    language: Language,
    start: impl Future<Output = ()> + Send + 'static,
) {
    let span = tracing::info_span!("turn", id = id.0, kind = "speak");
    async move {
        let t0 = Instant::now();
        let body = async {
            start.await;
            inner.span(id, Span::Queued, t0.elapsed());
            inner.emit(Event::ResponseChunk {
                turn: id,
                text: text.clone(),
            });
            let spoken = say(&inner, id, &cancel, &text, &language).await;
            let status = if spoken.is_ok() {
                TurnStatus::Ok
            } else {
                TurnStatus::Failed
            };
            Outcome {
                status,
                response: text.clone(),
                intent: None,
            }
        };
        let outcome = until_cancelled(body, &cancel).await;
        finish(&inner, id, TurnKind::Speak, outcome);
    }
    .instrument(span)
    .await
}

/// A turn's body raced against its cancellation. A body that returns *because* it was
/// cancelled (a speaker stops and returns, a model stops between tokens) still makes the turn
/// `cancelled`, whichever of the two the reactor saw first.
pub(super) async fn until_cancelled(
    body: impl Future<Output = Outcome>,
    cancel: &CancelToken,
) -> Outcome {
    let finished = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        o = body => Some(o),
    };
    match finished {
        Some(o) if !cancel.is_cancelled() => o,
        _ => Outcome {
            status: TurnStatus::Cancelled,
            response: String::new(),
            intent: None,
        },
    }
}

/// What an `Ask` or listening turn does with its text: [`think`], then give the answer in text
/// (`ResponseChunk`, unless the LLM streamed it already) and speak it when asked. Speech runs
/// beside thinking: the `ResponseChunk`s of this turn (an LLM answer as it streams, or the
/// whole response) feed the speaker, which starts on the first complete clause. A failed
/// speech output is logged by `say_stream` and does not change what the turn did: the answer
/// was given in text already.
pub(super) async fn respond(
    inner: &Arc<Inner>,
    id: TurnId,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
    speak: bool,
) -> Outcome {
    let speaker = if speak {
        ready_speaker(inner, id, language)
    } else {
        None
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // Subscribed before thinking starts, so no chunk of the answer is missed.
    let mut events = speaker.as_ref().map(|_| inner.events.subscribe());
    let forward = |event: Event, tx: &tokio::sync::mpsc::UnboundedSender<String>| {
        if let Event::ResponseChunk { turn, text } = event {
            if turn == id {
                let _ = tx.send(text);
            }
        }
    };
    let answering = async {
        let mut streamed = false;
        let outcome = {
            let thinking = think(inner, id, text, language, cancel, &mut streamed);
            tokio::pin!(thinking);
            loop {
                let Some(rx_events) = events.as_mut() else {
                    break thinking.await;
                };
                tokio::select! {
                    o = &mut thinking => break o,
                    e = rx_events.recv() => match e {
                        Ok(e) => forward(e, &tx),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(lost = n, "the spoken answer fell behind the events; some of it is not spoken");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => events = None,
                    },
                }
            }
        };
        // Chunks sent before `think` returned and not read yet.
        if let Some(rx_events) = events.as_mut() {
            use tokio::sync::broadcast::error::TryRecvError;
            loop {
                match rx_events.try_recv() {
                    Ok(e) => forward(e, &tx),
                    Err(TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        }
        if !outcome.response.is_empty() && !streamed {
            inner.emit(Event::ResponseChunk {
                turn: id,
                text: outcome.response.clone(),
            });
            let _ = tx.send(outcome.response.clone());
        }
        // The speaker says what it has, then finishes.
        drop(tx);
        outcome
    };
    let speaking = async {
        if let Some(speaker) = speaker {
            // A failure is logged by `say_stream`; the answer was given in text already.
            let _ = say_stream(inner, id, cancel, speaker, rx, language).await;
        }
    };
    let (outcome, ()) = tokio::join!(answering, speaking);
    outcome
}

/// Recognise (grammar, then the semantic tier and the LLM), dispatch to the handler (or take
/// the catalog's default response); an open question gets the LLM's answer, streamed (`streamed` is set then).
pub(super) async fn think(
    inner: &Arc<Inner>,
    id: TurnId,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
    streamed: &mut bool,
) -> Outcome {
    let t = Instant::now();
    let context = inner.shared().dialogue.clone();
    let found = inner.understand_off_reactor(text, language, &context).await;
    let (m, tier) = match found {
        Some(found) => found,
        None => {
            let grammar_time = t.elapsed();
            match super::route::beyond_grammar(
                inner,
                id,
                text,
                language,
                cancel,
                streamed,
                grammar_time,
            )
            .await
            {
                super::route::Beyond::Intent(m, tier) => (m, tier),
                super::route::Beyond::Done(outcome) => {
                    inner.span(id, Span::Recognize, t.elapsed());
                    return outcome;
                }
            }
        }
    };
    let source = tier.source();
    if source == Source::Grammar {
        super::route::note_grammar(inner, id, t.elapsed());
    }
    let recognize = t.elapsed();
    inner.with_trace(id, |trace| {
        trace.set_span(Span::Recognize, recognize);
        trace.tier = Some(tier);
    });
    tracing::info!(intent = %m.intent, confidence = m.confidence, source = source.as_str(), tier = tier.as_str(), "intent recognized");
    inner.shared().dialogue.remember(&m);
    inner.emit(Event::IntentRecognized {
        turn: id,
        intent: m.intent.clone(),
        slots: m.slots.clone(),
        confidence: m.confidence,
        source,
    });
    let default_response = m.response.clone().unwrap_or_default();
    let handler = inner.shared().handlers.lookup(&m.intent).cloned();
    let dispatcher = super::lock(&inner.dispatcher).clone();
    let (Some(handler), Some(dispatcher)) = (handler, dispatcher) else {
        return Outcome {
            status: TurnStatus::Ok,
            response: default_response,
            intent: Some(m.intent),
        };
    };
    let call = HandlerCall {
        turn: id,
        intent: m.intent.clone(),
        slots: m.slots.clone(),
        text: text.to_string(),
        language: m.language.to_string(),
        confidence: m.confidence,
        source: source.as_str(),
        metadata: m.metadata.clone(),
    };
    let t = Instant::now();
    let reply = tokio::time::timeout(
        inner.config.handler_timeout,
        dispatcher.dispatch(&handler, call),
    )
    .await;
    inner.span(id, Span::Handler, t.elapsed());
    if matches!(reply, Ok(Ok(_))) {
        inner.mark(id, Mark::HandlerReply);
    }
    let intent = Some(m.intent.clone());
    match reply {
        Ok(Ok(reply)) => {
            let status = if reply.status.eq_ignore_ascii_case("failed") {
                TurnStatus::Failed
            } else {
                TurnStatus::Ok
            };
            if !reply.places.is_empty() {
                // Kept for "the second one"; `remember` above cleared the previous search's.
                inner.shared().dialogue.places = reply.places.clone();
            }
            // The reply is broadcast in TurnFinished and spoken: no control characters (a
            // terminal's escape codes), at most dbus.max_text_bytes.
            let speech =
                super::handlers::sanitize_speech(&reply.speech, inner.config.max_text_bytes);
            let response = match (speech.is_empty(), status) {
                (true, TurnStatus::Ok) if !reply.places.is_empty() => {
                    super::places::read_out(&reply.places, language)
                }
                (true, TurnStatus::Ok) => default_response,
                _ => speech,
            };
            let shown = super::handlers::sanitize_speech(&reply.status, 32);
            tracing::info!(%handler, status = %shown, places = reply.places.len(), "handler answered");
            Outcome {
                status,
                response,
                intent,
            }
        }
        Ok(Err(e)) => {
            if let DispatchError::Gone(_) = e {
                inner.shared().handlers.remove(&handler);
            }
            tracing::warn!(%handler, "handler call failed: {e}");
            Outcome {
                status: TurnStatus::Failed,
                response: phrase(language, Phrase::Failed).into(),
                intent,
            }
        }
        Err(_) => {
            tracing::warn!(%handler, timeout = ?inner.config.handler_timeout, "handler did not answer in time (dbus.handler_timeout_ms)");
            Outcome {
                status: TurnStatus::Timeout,
                response: phrase(language, Phrase::TimedOut).into(),
                intent,
            }
        }
    }
}

/// Say `text` on the speaker, waiting for the audio path. Without a speaker the turn answers in
/// text only (logged). Errors are logged and returned.
pub(super) async fn say(
    inner: &Arc<Inner>,
    id: TurnId,
    cancel: &Arc<CancelToken>,
    text: &str,
    language: &Language,
) -> Result<(), EngineError> {
    let Some(speaker) = ready_speaker(inner, id, language) else {
        return Ok(());
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = tx.send(text.to_string());
    drop(tx);
    say_stream(inner, id, cancel, speaker, rx, language).await
}

/// The speaker, when it can speak `language`; else `None`, logged (once at warn level: every
/// turn would flood the journal).
fn ready_speaker(
    inner: &Arc<Inner>,
    id: TurnId,
    language: &Language,
) -> Option<Arc<dyn super::Speaker>> {
    let ready = match &inner.stages.speaker {
        Stage::Ready(s) => s.available(language).map(|()| s.clone()),
        Stage::Missing(why) => Err(why.clone()),
    };
    match ready {
        Ok(s) => Some(s),
        Err(why) => {
            if !inner
                .speech_missing_logged
                .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                tracing::warn!(
                    "{why}; turns answer in text only (TurnFinished carries the response)"
                );
            } else {
                tracing::debug!("{why}; turn {id} answers in text only");
            }
            None
        }
    }
}

/// Speaks the text that comes on `text` as it comes (`Speaker::speak_stream`). The audio path
/// is taken, and the turn shown `speaking`, only once there is a first chunk; nothing is said
/// when the sender closes without one. The turn's trace gets the time spoken (`speak`), the
/// first audio (from the speaker) and the end of playback.
async fn say_stream(
    inner: &Arc<Inner>,
    id: TurnId,
    cancel: &Arc<CancelToken>,
    speaker: Arc<dyn super::Speaker>,
    mut text: tokio::sync::mpsc::UnboundedReceiver<String>,
    language: &Language,
) -> Result<(), EngineError> {
    let Some(first) = text.recv().await else {
        return Ok(());
    };
    let _audio_path = inner.speaker_lock.lock().await;
    inner.set_turn_state(id, State::Speaking);
    let t = Instant::now();
    let (language, token, i2) = (language.clone(), cancel.clone(), inner.clone());
    let result = super::blocking::stage("speak", move || {
        let mut chunks = std::iter::once(first).chain(std::iter::from_fn(|| text.blocking_recv()));
        let first_audio = || i2.mark(id, Mark::FirstAudio);
        speaker.speak_stream(&mut chunks, &language, &token, &first_audio)
    })
    .await;
    inner.with_trace(id, |trace| {
        trace.set_span(Span::Speak, t.elapsed());
        if matches!(result, Ok(Ok(()))) && !cancel.is_cancelled() {
            trace.mark(Mark::PlaybackEnd);
        }
    });
    inner.set_turn_state(id, State::Thinking);
    let result = match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::error!("speech output failed: {e}");
            Err(EngineError::Failed(e.0))
        }
        Err(e) => {
            tracing::error!("speech output stopped: {e}");
            Err(EngineError::Failed(e.to_string()))
        }
    };
    result
}

/// Ends turn `id` with `outcome`: its record is kept, logged as one line and sent with
/// `TurnFinished`.
pub(super) fn finish(inner: &Arc<Inner>, id: TurnId, kind: TurnKind, outcome: Outcome) {
    inner.finish_turn(id, kind, outcome);
}

/// Turn bookkeeping: the set of running turns, their states and the `State` property.
impl Inner {
    /// Registers a new turn in `state`, within the concurrency limit.
    pub(super) fn begin_turn(
        &self,
        state: State,
        language: &Language,
    ) -> Result<(TurnId, Arc<CancelToken>), EngineError> {
        let mut s = self.shared();
        if s.shutting_down {
            return Err(EngineError::NotReady(
                "the assistant is shutting down".into(),
            ));
        }
        let max = self.config.max_concurrent_turns;
        if s.active.len() >= max {
            return Err(EngineError::Busy(format!(
                "{} turns are running, the limit (dbus.max_concurrent_turns); retry when one finished",
                s.active.len()
            )));
        }
        let id = TurnId(s.next_turn);
        s.next_turn += 1;
        let cancel = Arc::new(CancelToken::new());
        s.active.insert(
            id,
            ActiveTurn {
                state,
                cancel: cancel.clone(),
                language: language.to_string(),
                intent: None,
                trace: TurnTrace::start(),
            },
        );
        self.update_state(&mut s);
        Ok((id, cancel))
    }

    /// Moves turn `id` to `state` and updates the `State` property.
    pub(super) fn set_turn_state(&self, id: TurnId, state: State) {
        let mut s = self.shared();
        if let Some(t) = s.active.get_mut(&id) {
            t.state = state;
        }
        self.update_state(&mut s);
    }

    /// Ends turn `id`: records it (the last `RECENT_TURNS`), logs its line, emits
    /// `TurnFinished` with the record, updates `State`.
    fn finish_turn(&self, id: TurnId, kind: TurnKind, outcome: Outcome) {
        let mut s = self.shared();
        let (language, recognized, mut trace) = match s.active.remove(&id) {
            Some(t) => (t.language, t.intent, t.trace),
            None => (String::new(), None, TurnTrace::start()),
        };
        trace.finish();
        if outcome.status == TurnStatus::Cancelled {
            // Cancelled by its own stage (the token set elsewhere): the end is the moment.
            let now = Instant::now();
            trace.mark_at(Mark::Cancel, now);
        }
        let record = TurnRecord {
            id,
            kind,
            status: outcome.status,
            // A turn cancelled after its intent was recognized keeps it in its record.
            intent: outcome.intent.or(recognized),
            language,
            trace,
        };
        tracing::info!("{}", record.log_line());
        if s.recent.len() >= RECENT_TURNS {
            s.recent.pop_front();
        }
        s.recent.push_back(record.clone());
        // Emitted under the lock so that TurnFinished and the State change keep their order.
        self.emit(Event::TurnFinished {
            turn: id,
            status: record.status,
            response: outcome.response,
            record: Box::new(record),
        });
        self.update_state(&mut s);
        if s.active.is_empty() {
            self.idle.notify_waiters();
        }
    }

    fn update_state(&self, s: &mut Shared) {
        let state = s
            .active
            .values()
            .map(|t| t.state)
            .max()
            .unwrap_or(State::Idle);
        if state != s.state {
            s.state = state;
            self.emit(Event::StateChanged(state));
            self.emit(Event::PropertyChanged(Property::State));
        }
    }
}

/// "Sorry, I did not understand that." in `language`.
/// What a turn says when the lite model's answer failed its gate (nothing of it was said).
pub(super) fn cannot_answer(language: &Language) -> &'static str {
    phrase(language, Phrase::CannotAnswer)
}

pub(super) fn not_understood(language: &Language) -> &'static str {
    phrase(language, Phrase::NotUnderstood)
}

#[derive(Clone, Copy)]
enum Phrase {
    NotUnderstood,
    /// The lite model's answer failed the answer gate.
    CannotAnswer,
    Failed,
    TimedOut,
}

/// The few sentences the engine itself says, in the turn's language.
fn phrase(language: &Language, p: Phrase) -> &'static str {
    let zh = language.primary() == "zh";
    match (p, zh) {
        (Phrase::NotUnderstood, false) => "Sorry, I did not understand that.",
        (Phrase::NotUnderstood, true) => "抱歉，我没有听懂。",
        (Phrase::CannotAnswer, false) => "Sorry, I can't answer that on the device.",
        (Phrase::CannotAnswer, true) => "抱歉，这个问题我在设备上回答不了。",
        (Phrase::Failed, false) => "Sorry, that did not work.",
        (Phrase::Failed, true) => "抱歉，操作没有成功。",
        (Phrase::TimedOut, false) => "Sorry, that is taking too long.",
        (Phrase::TimedOut, true) => "抱歉，操作超时了。",
    }
}
