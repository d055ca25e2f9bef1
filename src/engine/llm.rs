//! The language-model stage: the intent fallback when the grammar has no match, and spoken
//! answers to open questions. A trait, so the engine does not know the model; the real one
//! is `crate::llm::LiteLlm`. Also how turns call it: off the reactor, bounded by
//! `llm.max_waiting`. Both calls are blocking: the engine runs them on a blocking
//! thread and cancels them through the turn's token (they stop within one token).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::event::Event;
use super::stages::StageError;
use super::turn::{CancelToken, TurnId};
use super::{lock, Inner};
use crate::nlu::{IntentCatalog, IntentMatch, Language, SlotValue};

/// An intent the model chose among the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelIntent {
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
    pub confidence: f64,
}

pub trait LanguageModel: Send + Sync {
    /// The intent of `text` among the intents of `catalog` (whose language it is in), or
    /// `None` when nothing fits (or not confidently).
    fn intent(
        &self,
        text: &str,
        catalog: &IntentCatalog,
        cancel: &CancelToken,
    ) -> Result<Option<ModelIntent>, StageError>;

    /// A short spoken answer to `question`, in `language`, handed out in chunks as it grows.
    fn answer(
        &self,
        question: &str,
        language: &Language,
        cancel: &CancelToken,
        on_chunk: &mut dyn FnMut(&str),
    ) -> Result<String, StageError>;
}

/// The loaded model and the bound on requests waiting for it.
#[derive(Clone)]
pub(super) struct LlmStage {
    model: Arc<dyn LanguageModel>,
    permits: Arc<Semaphore>,
    max_waiting: usize,
}

impl LlmStage {
    pub(super) fn new(model: Arc<dyn LanguageModel>, max_waiting: usize) -> Self {
        let max_waiting = max_waiting.max(1);
        Self {
            model,
            permits: Arc::new(Semaphore::new(max_waiting)),
            max_waiting,
        }
    }

    /// The model and a permit to use it, or `None` (logged) when `max_waiting` requests are
    /// already waiting: the caller then answers without the model rather than queue.
    fn admit(inner: &Inner) -> Option<(Arc<dyn LanguageModel>, OwnedSemaphorePermit)> {
        let stage = lock(&inner.llm).clone()?;
        match stage.permits.clone().try_acquire_owned() {
            Ok(p) => Some((stage.model, p)),
            Err(_) => {
                // A flood of requests would write a line each: one line per period, counted.
                static BUSY: crate::logging::RateLimit = crate::logging::RateLimit::new();
                if let Some(suppressed) = BUSY.allow() {
                    tracing::warn!(
                        waiting = stage.max_waiting,
                        suppressed,
                        "the lite LLM is busy ({} requests waiting, llm.max_waiting); answering without it",
                        stage.max_waiting
                    );
                }
                None
            }
        }
    }
}

/// The LLM's intent for a sentence the grammar did not match, on a blocking thread; `None`
/// without a model, when it is busy, when nothing fits, or on failure (logged).
pub(super) async fn intent(
    inner: &Arc<Inner>,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
) -> Option<IntentMatch> {
    // The catalog view is built (a few ms) on the first call after a list changed: off the
    // reactor too.
    let (i2, l2) = (inner.clone(), language.clone());
    let mi = decide(inner, text, cancel, move || i2.recognizer.catalog(&l2)).await?;
    Some(
        inner
            .recognizer
            .complete_match(language, &mi.intent, mi.slots, mi.confidence),
    )
}

/// The LLM's intent among the intents of `catalog` only (the semantic tier passes one
/// intent whose slots it needs).
pub(super) async fn intent_in(
    inner: &Arc<Inner>,
    text: &str,
    catalog: Arc<IntentCatalog>,
    cancel: &Arc<CancelToken>,
) -> Option<ModelIntent> {
    decide(inner, text, cancel, move || Some(catalog)).await
}

async fn decide(
    inner: &Arc<Inner>,
    text: &str,
    cancel: &Arc<CancelToken>,
    catalog: impl FnOnce() -> Option<Arc<IntentCatalog>> + Send + 'static,
) -> Option<ModelIntent> {
    let (model, permit) = LlmStage::admit(inner)?;
    let (t2, c2) = (text.to_string(), cancel.clone());
    let t = Instant::now();
    // The permit is held until the model is free again, even if the turn was cancelled
    // meanwhile.
    let r = super::blocking::stage("llm_intent", move || {
        let _permit = permit;
        match catalog() {
            Some(catalog) => model.intent(&t2, &catalog, &c2),
            None => Ok(None),
        }
    })
    .await;
    let elapsed = t.elapsed();
    match r {
        Ok(Ok(Some(mi))) => {
            tracing::info!(intent = %mi.intent, confidence = mi.confidence, ?elapsed, "LLM intent");
            Some(mi)
        }
        Ok(Ok(None)) => {
            tracing::info!(?elapsed, "LLM found no intent");
            None
        }
        Ok(Err(e)) => {
            tracing::warn!("LLM intent fallback failed: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("LLM intent fallback stopped: {e}");
            None
        }
    }
}

/// A spoken answer to an open question from the LLM, streamed as `ResponseChunk`s (none
/// after the turn was cancelled).
pub(super) async fn answer(
    inner: &Arc<Inner>,
    id: TurnId,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
) -> Option<String> {
    let (model, permit) = LlmStage::admit(inner)?;
    let (i2, t2, l2, c2) = (
        inner.clone(),
        text.to_string(),
        language.clone(),
        cancel.clone(),
    );
    let r = super::blocking::stage("llm_answer", move || {
        let _permit = permit;
        let mut emit = |chunk: &str| {
            if !c2.is_cancelled() {
                i2.emit(Event::ResponseChunk {
                    turn: id,
                    text: chunk.to_string(),
                });
            }
        };
        model.answer(&t2, &l2, &c2, &mut emit)
    })
    .await;
    match r {
        Ok(Ok(a)) if !a.trim().is_empty() => Some(a),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!("LLM answer failed: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("LLM answer stopped: {e}");
            None
        }
    }
}
