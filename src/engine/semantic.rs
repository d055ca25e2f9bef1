//! The semantic stage: between the grammar and the LLM, an intent by meaning (nearest
//! sentences of the grammar in an embedding space). A trait, so the engine does not know the
//! model; the real one is `crate::semantic::SemanticTier`. It answers in milliseconds, on a
//! blocking thread. When it picks an intent whose required slots the sentence does not state,
//! the LLM fills them, constrained to that intent; when even that fails the turn goes on to
//! the LLM tier as if the semantic stage had found nothing.
//!
//! Its matches carry `source` = `llm`: the contract's sources are grammar / llm / cloud /
//! none, and this is part of the on-device model tier.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::event::Tier;
use super::stages::StageError;
use super::turn::CancelToken;
use super::{lock, Inner};
use crate::nlu::{IntentCatalog, IntentMatch, Language, Recognizer, SlotValue};

/// An intent found by meaning, with the slots the sentence states.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticIntent {
    pub intent: String,
    pub slots: BTreeMap<String, SlotValue>,
    /// Slots every template of the intent has that the sentence did not state.
    pub missing: Vec<String>,
    /// Similarity of the nearest sentence (0..1).
    pub confidence: f64,
}

pub trait SemanticMatcher: Send + Sync {
    /// The intent of `text` among the grammar's intents in `language`, or `None`.
    fn intent(
        &self,
        text: &str,
        language: &Language,
        recognizer: &Recognizer,
    ) -> Result<Option<SemanticIntent>, StageError>;
}

/// The semantic stage's match for a sentence the grammar did not match; `None` without the
/// stage, when nothing is close enough, or when a required slot is missing and the LLM cannot
/// fill it.
pub(super) async fn intent(
    inner: &Arc<Inner>,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
) -> Option<IntentMatch> {
    let stage = lock(&inner.semantic).clone()?;
    let (i2, t2, l2) = (inner.clone(), text.to_string(), language.clone());
    let t = Instant::now();
    let found = tokio::task::spawn_blocking(move || stage.intent(&t2, &l2, &i2.recognizer)).await;
    let hit = match found {
        Ok(Ok(Some(hit))) => hit,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            tracing::warn!("semantic tier failed: {e}");
            return None;
        }
        Err(e) => {
            tracing::warn!("semantic tier stopped: {e}");
            return None;
        }
    };
    tracing::info!(intent = %hit.intent, confidence = hit.confidence, missing = ?hit.missing, elapsed = ?t.elapsed(), "semantic intent");
    let mut slots = hit.slots;
    if !hit.missing.is_empty() {
        let filled = fill_slots(inner, text, language, &hit.intent, cancel).await?;
        for (k, v) in filled {
            slots.entry(k).or_insert(v);
        }
    }
    Some(
        inner
            .recognizer
            .complete_match(language, &hit.intent, slots, hit.confidence),
    )
}

/// The LLM's slots for `text`, constrained to `intent` (it may still say `none`); `None`
/// without a model, when busy, or when the model does not take the intent.
async fn fill_slots(
    inner: &Arc<Inner>,
    text: &str,
    language: &Language,
    intent: &str,
    cancel: &Arc<CancelToken>,
) -> Option<BTreeMap<String, SlotValue>> {
    let full = inner.recognizer.catalog(language)?;
    let schema = full.intents.iter().find(|i| i.name == intent)?.clone();
    let samples = inner
        .recognizer
        .samples(language)
        .into_iter()
        .filter(|s| s.intent == intent)
        .collect();
    let only = Arc::new(IntentCatalog::new(language.clone(), vec![schema], samples));
    let m = super::llm::intent_in(inner, text, only, cancel).await?;
    (m.intent == intent).then_some(m.slots)
}

/// The on-device model tier for a sentence the grammar did not match: the semantic stage,
/// then the LLM; the tier says which found the intent.
pub(super) async fn or_llm(
    inner: &Arc<Inner>,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
) -> Option<(IntentMatch, Tier)> {
    match intent(inner, text, language, cancel).await {
        Some(m) => Some((m, Tier::Semantic)),
        None => super::llm::intent(inner, text, language, cancel)
            .await
            .map(|m| (m, Tier::Llm)),
    }
}
