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

/// Why the answer gate held (part of) an answer back (see `llm::gate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateReason {
    /// The model wrote nothing (or only spaces and punctuation).
    Empty,
    /// The mean log-probability of a sentence's tokens was under `llm.gate_min_logprob`.
    LowConfidence,
    /// Under `llm.gate_min_script_share` of a sentence's letters were in the question's
    /// script (Han for a Mandarin question, Latin for an English one).
    WrongLanguage,
    /// The answer repeats itself (`llm.gate_max_repetition`, or a sentence said twice).
    Repetition,
    /// The token budget ended the answer inside its first sentence.
    CutOff,
    /// A sentence mostly says the question back (`llm.gate_max_echo`), or the answer opens
    /// with a question.
    Echo,
}

impl GateReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GateReason::Empty => "empty",
            GateReason::LowConfidence => "low_confidence",
            GateReason::WrongLanguage => "wrong_language",
            GateReason::Repetition => "repetition",
            GateReason::CutOff => "cut_off",
            GateReason::Echo => "echo",
        }
    }
}

/// The answer gate's judgement of one answer of the language model. `passed` is whether
/// anything of it may be said as fact; when false, nothing of it was streamed or spoken and
/// the turn says it cannot answer on the device (the cloud tier may take the question
/// instead). The measures are those of the sentences said (or of the one that failed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    /// Why the answer — or, when `passed`, the rest of it after `sentences` — was held back.
    pub reason: Option<GateReason>,
    /// Mean log-probability (nats) of the tokens said, or of the failing sentence.
    pub mean_logprob: f32,
    /// Share of the last judged sentence's letters in the question's script (0–1).
    pub script_share: f32,
    /// Share of repeated trigrams in the answer up to the last judged sentence (0–1).
    pub repetition: f32,
    /// Sentences that passed and were said.
    pub sentences: usize,
}

impl Verdict {
    /// The verdict on an answer no gate looked at (a model without one): said as it is.
    pub fn unjudged(text: &str) -> Self {
        let passed = !text.trim().is_empty();
        Self {
            passed,
            reason: (!passed).then_some(GateReason::Empty),
            mean_logprob: 0.0,
            script_share: 1.0,
            repetition: 0.0,
            sentences: usize::from(passed),
        }
    }
}

/// An answer of the language model and the gate's verdict on it. `text` is what passed (and
/// was streamed): empty when the verdict failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    pub text: String,
    pub verdict: Verdict,
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

    /// A short spoken answer to `question`, in `language`, judged by the answer gate: only
    /// what passed is handed to `on_chunk` (sentence by sentence as it grows) and returned.
    fn answer(
        &self,
        question: &str,
        language: &Language,
        cancel: &CancelToken,
        on_chunk: &mut dyn FnMut(&str),
    ) -> Result<ModelAnswer, StageError>;
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

/// A spoken answer to an open question from the LLM, what passed the gate streamed as
/// `ResponseChunk`s (none after the turn was cancelled), with the gate's verdict; `None`
/// without a model, when it is busy or on failure (logged).
pub(super) async fn answer(
    inner: &Arc<Inner>,
    id: TurnId,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
) -> Option<ModelAnswer> {
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
        Ok(Ok(a)) => {
            let v = &a.verdict;
            tracing::info!(
                passed = v.passed,
                reason = v.reason.map(GateReason::as_str),
                mean_logprob = v.mean_logprob,
                script_share = v.script_share,
                repetition = v.repetition,
                sentences = v.sentences,
                "LLM answer judged"
            );
            Some(a)
        }
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
