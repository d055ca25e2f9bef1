//! Routing a turn across the device and the cloud (`RoutingMode`): the grammar first, then
//! the device's models (semantic tier, lite LLM), then — in `hybrid` when the device found
//! nothing it trusts, in `cloud` right after the grammar — a cloud model over the
//! OpenAI-compatible API. The decision is one small pure function, [`escalate`]; privacy
//! ([`Router::keeps_private`]), the breaker, the in-flight bound and the latency budget
//! decide whether the cloud is actually asked. The cloud model is a trait ([`CloudModel`]),
//! so the engine knows no HTTP; the real one is `crate::llm::cloud::CloudClient`.
//!
//! Whatever the cloud does (down, slow, wrong key, cut mid-answer, naming an intent that does
//! not exist), the turn ends with the device's answer or a clean status within the budget.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

use super::breaker::{Breaker, BreakerState, Transition};
use super::event::{Event, Property, Source, Tier};
use super::options::RoutingMode;
use super::run::Outcome;
use super::turn::{CancelToken, TurnId, TurnStatus};
use super::usage::{estimate_tokens, Ledger, TurnUsage, UsageTotals};
use super::{lock, Inner};
use crate::config::CloudConfig;
use crate::nlu::{IntentMatch, IntentSchema, Language, SlotValue};

/// Confidence given to an intent the cloud named (it reports none).
pub const CLOUD_CONFIDENCE: f64 = 0.9;
/// A sentence whose nearest grammar sentence belongs to a private intent at least this alike
/// (TF-IDF cosine) stays on the device even though the device did not understand it.
const PRIVATE_SIMILARITY: f32 = 0.3;
/// A sentence the device did not understand whose nearest grammar sentence is at least this
/// alike is a command put in other words: in `hybrid` it goes to the cloud, which can name
/// the intent, rather than to the lite model's chat answer. On the paraphrase and answer-gate
/// development halves, 77 % of the paraphrased commands and 3 % of the open questions are
/// this near ("What is the capital of France?" is 0.30 from "what time is it").
const COMMAND_SIMILARITY: f32 = 0.35;

/// What the device made of a turn so far: the input of [`escalate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeviceOutcome {
    /// The grammar matched (exact or tolerant).
    Grammar,
    /// The grammar did not match; the device's models were not asked yet.
    GrammarMissed,
    /// The device's models (semantic tier, lite LLM) found an intent.
    ModelIntent,
    /// The device found no intent: the sentence goes to the answer path.
    NoIntent,
    /// The device answered; `trusted` is the answer gate's verdict on it.
    Answered { trusted: bool },
}

/// Whether the cloud should be asked after `outcome`, in `mode`. Pure: privacy, the breaker
/// and the budget are checked by the caller. `cloud` asks it as soon as the grammar missed;
/// `hybrid` once the device found no intent (or its answer is not trusted); `local` never.
pub fn escalate(mode: RoutingMode, outcome: DeviceOutcome) -> bool {
    match (mode, outcome) {
        (RoutingMode::Local, _) => false,
        (RoutingMode::Cloud, DeviceOutcome::GrammarMissed) => true,
        (RoutingMode::Hybrid, DeviceOutcome::NoIntent) => true,
        (RoutingMode::Hybrid, DeviceOutcome::Answered { trusted }) => !trusted,
        _ => false,
    }
}

/// One request to the cloud: the sentence, its language and the intents it may name.
#[derive(Debug, Clone)]
pub struct CloudRequest {
    pub text: String,
    pub language: Language,
    /// The intents offered as tools (never a private one). Empty: answers only.
    pub tools: Vec<IntentSchema>,
}

/// What the cloud answered.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudAnswer {
    /// A tool call: an intent of the request's tools and its slots (checked against them).
    Intent {
        intent: String,
        slots: BTreeMap<String, SlotValue>,
    },
    /// A spoken answer (streamed through `on_text` as it came).
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudReply {
    pub answer: CloudAnswer,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// The server reported no `usage`: the counts are estimates.
    pub estimated: bool,
}

/// Why the cloud gave no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudFailure {
    #[error("the cloud is unreachable ({0}); staying on the device")]
    Offline(String),
    #[error("the cloud did not answer in time ({0})")]
    Timeout(String),
    #[error(
        "the cloud refused the API key (HTTP {0}): check cloud.api_key_env / cloud.api_key_file"
    )]
    Unauthorized(u16),
    #[error("the cloud answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("the cloud's answer was cut off: {0}")]
    Cut(String),
    #[error("the cloud's answer could not be read: {0}")]
    Malformed(String),
    #[error("the cloud's tool call was refused: {0}")]
    Refused(String),
    #[error("cancelled")]
    Cancelled,
}

impl CloudFailure {
    /// A short name for logs and the per-turn figures.
    pub fn kind(&self) -> &'static str {
        match self {
            CloudFailure::Offline(_) => "offline",
            CloudFailure::Timeout(_) => "timeout",
            CloudFailure::Unauthorized(_) => "unauthorized",
            CloudFailure::Http { .. } => "http_error",
            CloudFailure::Cut(_) => "cut",
            CloudFailure::Malformed(_) => "malformed",
            CloudFailure::Refused(_) => "refused",
            CloudFailure::Cancelled => "cancelled",
        }
    }

    /// Whether it says the cloud is unhealthy (counts toward the breaker). A refused tool
    /// call or a cancelled turn says nothing about the service.
    fn counts_for_breaker(&self) -> bool {
        !matches!(self, CloudFailure::Refused(_) | CloudFailure::Cancelled)
    }
}

pub trait CloudModel: Send + Sync {
    /// One chat completion, blocking: the answer's text is handed to `on_text` as it streams
    /// in. Returns within the client's own timeouts; stops early once `cancel` is set.
    fn complete(
        &self,
        request: &CloudRequest,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<CloudReply, CloudFailure>;
}

/// The cloud tier as the router uses it.
struct CloudStage {
    model: Arc<dyn CloudModel>,
    policy: CloudConfig,
    permits: Arc<Semaphore>,
}

/// The router's state: the cloud stage (when configured), its breaker, the contact names the
/// privacy rule looks for, and the accounting.
#[derive(Default)]
pub(super) struct Router {
    cloud: Mutex<Option<CloudStage>>,
    breaker: Mutex<Option<Breaker>>,
    /// Spoken forms and values of the `contact` list, folded to lower case.
    contacts: Mutex<Vec<String>>,
    ledger: Mutex<Ledger>,
}

/// The `CloudState` property: `off` (no cloud configured), `ready`, `open` (the breaker
/// keeps turns on the device for a cool-down).
pub fn cloud_state_name(configured: bool, breaker: Option<BreakerState>) -> &'static str {
    match (configured, breaker) {
        (false, _) => "off",
        (true, Some(BreakerState::Open)) => "open",
        _ => "ready",
    }
}

impl Router {
    pub(super) fn set_cloud(&self, model: Arc<dyn CloudModel>, policy: CloudConfig) {
        *lock(&self.breaker) = Some(Breaker::new(
            policy.breaker_failures,
            Duration::from_millis(policy.breaker_cooldown_ms),
        ));
        *lock(&self.cloud) = Some(CloudStage {
            model,
            permits: Arc::new(Semaphore::new(policy.max_in_flight.max(1))),
            policy,
        });
    }

    pub(super) fn cloud_state(&self) -> &'static str {
        let configured = lock(&self.cloud).is_some();
        let state = lock(&self.breaker)
            .as_ref()
            .map(|b| b.state(Instant::now()));
        cloud_state_name(configured, state)
    }

    /// `SetList` replaced list `name`: the `contact` list's names are what the privacy rule
    /// looks for in sentences.
    pub(super) fn note_list(&self, name: &str, values: &[(String, String)]) {
        if name != "contact" {
            return;
        }
        let mut names: Vec<String> = values
            .iter()
            .flat_map(|(s, v)| [s.to_lowercase(), v.to_lowercase()])
            .filter(|n| n.trim().chars().count() >= 2)
            .collect();
        names.sort();
        names.dedup();
        *lock(&self.contacts) = names;
    }

    pub(super) fn record(&self, id: TurnId, usage: TurnUsage) {
        lock(&self.ledger).record(id, usage);
    }

    pub(super) fn totals(&self) -> UsageTotals {
        lock(&self.ledger).totals.clone()
    }

    pub(super) fn turn(&self, id: TurnId) -> Option<TurnUsage> {
        lock(&self.ledger).turn(id)
    }

    /// Why `text` stays on the device by the configured privacy rules (none without a cloud).
    pub(super) fn privacy_reason(
        &self,
        inner: &Inner,
        text: &str,
        language: &Language,
    ) -> Option<&'static str> {
        let policy = lock(&self.cloud).as_ref().map(|c| c.policy.clone())?;
        private_reason(inner, &policy, text, language)
    }

    /// Whether `text` contains a contact name (whole words).
    fn names_a_contact(&self, text: &str) -> bool {
        let folded = text.to_lowercase();
        lock(&self.contacts)
            .iter()
            .any(|name| contains_words(&folded, name))
    }
}

/// `needle` in `haystack` at word boundaries (for scripts without spaces, anywhere).
fn contains_words(haystack: &str, needle: &str) -> bool {
    let needle = needle.trim();
    if needle.is_empty() {
        return false;
    }
    let spaced = needle.chars().any(|c| c.is_ascii_alphabetic());
    haystack.match_indices(needle).any(|(i, _)| {
        if !spaced {
            return true;
        }
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Why a sentence stays on the device by the privacy rules, if it does.
fn private_reason(
    inner: &Inner,
    policy: &CloudConfig,
    text: &str,
    language: &Language,
) -> Option<&'static str> {
    if !policy.send_contact_names && inner.router.names_a_contact(text) {
        return Some("it names a contact");
    }
    match nearest_grammar_sentence(inner, text, language) {
        Some((intent, sim)) if sim >= PRIVATE_SIMILARITY && policy.is_private(&intent) => {
            Some("it is like a private intent's sentences (calls, messages, contacts)")
        }
        _ => None,
    }
}

/// The intent of the grammar sentence nearest to `text` (TF-IDF) and how alike they are.
fn nearest_grammar_sentence(
    inner: &Inner,
    text: &str,
    language: &Language,
) -> Option<(String, f32)> {
    let catalog = inner.recognizer.catalog(language)?;
    let nearest = catalog.examples.nearest(text, 1);
    nearest
        .first()
        .map(|(sample, sim)| (sample.intent.clone(), *sim))
}

/// Whether `text`, which the device did not understand, is near a sentence of the grammar:
/// a command in other words, not an open question.
fn like_a_command(inner: &Inner, text: &str, language: &Language) -> bool {
    nearest_grammar_sentence(inner, text, language)
        .is_some_and(|(_, sim)| sim >= COMMAND_SIMILARITY)
}

/// What the device and the cloud made of a sentence the grammar did not match.
pub(super) enum Beyond {
    /// An intent, from the device's models (semantic tier, LLM) or the cloud.
    Intent(IntentMatch, Tier),
    /// The turn's outcome (an answer, a cut answer, or nothing understood).
    Done(Outcome),
}

/// Per-turn figures being collected.
#[derive(Default)]
struct Tally {
    usage: TurnUsage,
}

impl Tally {
    fn new() -> Tally {
        Tally::default()
    }
}

/// A turn the grammar answered: only its figures to record.
pub(super) fn note_grammar(inner: &Inner, id: TurnId, elapsed: Duration) {
    inner.router.record(
        id,
        TurnUsage {
            source: Some(Source::Grammar),
            device_time: elapsed,
            ..TurnUsage::default()
        },
    );
}

/// A turn's way after the grammar missed: the cloud first in `cloud` mode, the device's
/// models, the cloud in `hybrid` when they found nothing, the device's answer, or "not
/// understood". `streamed` is set when `ResponseChunk`s were emitted.
pub(super) async fn beyond_grammar(
    inner: &Arc<Inner>,
    id: TurnId,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
    streamed: &mut bool,
    grammar_time: Duration,
) -> Beyond {
    let mode = inner.shared().routing;
    let mut tally = Tally::new();
    tally.usage.device_time = grammar_time;
    let beyond = route(
        inner, id, mode, text, language, cancel, streamed, &mut tally,
    )
    .await;
    let u = &mut tally.usage;
    if u.source.is_none() {
        u.source = Some(match &beyond {
            Beyond::Intent(_, tier) => tier.source(),
            Beyond::Done(o) if o.status == TurnStatus::Ok => Source::Llm,
            Beyond::Done(_) => Source::None,
        });
    }
    // A turn without an intent (an answer, or nothing understood) is traced by who answered.
    if let (Beyond::Done(_), Some(source)) = (&beyond, u.source) {
        inner.with_trace(id, |t| t.tier = Some(Tier::of_source(source)));
    }
    inner.router.record(id, tally.usage);
    beyond
}

#[allow(clippy::too_many_arguments)]
async fn route(
    inner: &Arc<Inner>,
    id: TurnId,
    mode: RoutingMode,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
    streamed: &mut bool,
    tally: &mut Tally,
) -> Beyond {
    if escalate(mode, DeviceOutcome::GrammarMissed) {
        if let Some(b) = ask_cloud(inner, Some(id), text, language, cancel, streamed, tally).await {
            return b;
        }
    }
    let t = Instant::now();
    let found = super::semantic::or_llm(inner, text, language, cancel).await;
    tally.usage.device_time += t.elapsed();
    if let Some((m, tier)) = found {
        tally.usage.device_tokens += estimate_tokens(text);
        return Beyond::Intent(m, tier);
    }
    // Hybrid asks the device's own answer first when there is a model to give one and the
    // sentence is a question rather than a command in other words; the answer gate decides
    // whether the answer stands. Without a model, or for a command the device could not
    // place, a missing intent goes to the cloud now (it may name the intent).
    let has_model = lock(&inner.llm).is_some();
    if has_model {
        tally.usage.device_tokens += estimate_tokens(text);
    }
    // Only `hybrid` escalates on what follows, so only it pays for the nearest-sentence look-up.
    let device_first =
        has_model && !(mode == RoutingMode::Hybrid && like_a_command(inner, text, language));
    if !device_first && escalate(mode, DeviceOutcome::NoIntent) {
        if let Some(b) = ask_cloud(inner, Some(id), text, language, cancel, streamed, tally).await {
            return b;
        }
    }
    let t = Instant::now();
    let answer = super::llm::answer(inner, id, text, language, cancel).await;
    tally.usage.device_time += t.elapsed();
    match answer {
        Some(answer) => {
            tally.usage.device_tokens += estimate_tokens(&answer.text);
            let trusted = answer.verdict.passed;
            if trusted {
                *streamed = true;
                return Beyond::Done(Outcome {
                    status: TurnStatus::Ok,
                    response: answer.text,
                    intent: None,
                });
            }
            // The gate stopped the device's answer. When nothing of it was said yet, the cloud
            // may answer instead (hybrid); once a sentence was spoken the turn keeps to it
            // rather than start over in another voice.
            if device_first
                && answer.text.is_empty()
                && escalate(mode, DeviceOutcome::Answered { trusted })
                && !cancel.is_cancelled()
            {
                tracing::info!("the device's answer failed its gate; asking the cloud");
                if let Some(b) =
                    ask_cloud(inner, Some(id), text, language, cancel, streamed, tally).await
                {
                    return b;
                }
            }
            // No fact is made up: the device says it cannot answer.
            return Beyond::Done(Outcome {
                status: TurnStatus::NoIntent,
                response: super::run::cannot_answer(language).into(),
                intent: None,
            });
        }
        None if device_first && escalate(mode, DeviceOutcome::NoIntent) => {
            // The model was busy or failed: the cloud is the only answer left.
            if let Some(b) =
                ask_cloud(inner, Some(id), text, language, cancel, streamed, tally).await
            {
                return b;
            }
        }
        None => {}
    }
    tracing::info!(text, "no intent");
    Beyond::Done(Outcome {
        status: TurnStatus::NoIntent,
        response: super::run::not_understood(language).into(),
        intent: None,
    })
}

/// `Recognize` after a grammar miss: the device's models, and the cloud as the mode says —
/// intents only (a cloud answer in words is no intent).
pub(super) async fn recognize_beyond_grammar(
    inner: &Arc<Inner>,
    text: &str,
    language: &Language,
) -> Option<(IntentMatch, Source)> {
    let mode = inner.shared().routing;
    let mut tally = Tally::new();
    let found = recognize_routed(inner, mode, text, language, &mut tally).await;
    // The cloud's calls, tokens and cost count in the totals (it is no turn).
    lock(&inner.router.ledger).record_call(&tally.usage);
    found
}

async fn recognize_routed(
    inner: &Arc<Inner>,
    mode: RoutingMode,
    text: &str,
    language: &Language,
    tally: &mut Tally,
) -> Option<(IntentMatch, Source)> {
    let cancel = Arc::new(CancelToken::new());
    let mut streamed = false;
    if escalate(mode, DeviceOutcome::GrammarMissed) {
        if let Some(Beyond::Intent(m, tier)) =
            ask_cloud(inner, None, text, language, &cancel, &mut streamed, tally).await
        {
            return Some((m, tier.source()));
        }
    }
    if let Some((m, tier)) = super::semantic::or_llm(inner, text, language, &cancel).await {
        return Some((m, tier.source()));
    }
    if escalate(mode, DeviceOutcome::NoIntent) {
        if let Some(Beyond::Intent(m, tier)) =
            ask_cloud(inner, None, text, language, &cancel, &mut streamed, tally).await
        {
            return Some((m, tier.source()));
        }
    }
    None
}

/// Cancels the cloud call when the turn stops waiting for it (budget, cancel, drop).
struct CallGuard(Arc<CancelToken>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Asks the cloud, if it may be asked: `None` when it is not configured, the breaker is
/// open, too many requests are in flight, the sentence is private, or the cloud failed before
/// saying anything (the device goes on). `turn`: stream the answer as that turn's
/// `ResponseChunk`s (`None`: `Recognize`, intents only).
#[allow(clippy::too_many_arguments)]
async fn ask_cloud(
    inner: &Arc<Inner>,
    turn: Option<TurnId>,
    text: &str,
    language: &Language,
    cancel: &Arc<CancelToken>,
    streamed: &mut bool,
    tally: &mut Tally,
) -> Option<Beyond> {
    let (model, policy, permits) = {
        let stage = lock(&inner.router.cloud);
        let stage = stage.as_ref()?;
        (
            stage.model.clone(),
            stage.policy.clone(),
            stage.permits.clone(),
        )
    };
    // Privacy first: a private sentence is not even counted as a cloud call.
    let (i2, p2, t2, l2) = (
        inner.clone(),
        policy.clone(),
        text.to_string(),
        language.clone(),
    );
    let private = tokio::task::spawn_blocking(move || private_reason(&i2, &p2, &t2, &l2))
        .await
        .unwrap_or(Some("the privacy check stopped"));
    if let Some(why) = private {
        tracing::info!("kept on the device: {why}");
        tally.usage.kept_private = true;
        return None;
    }
    let allowed = lock(&inner.router.breaker)
        .as_mut()
        .is_none_or(|b| b.allow(Instant::now()));
    if !allowed {
        tracing::debug!("the cloud breaker is open; staying on the device");
        return None;
    }
    let Ok(permit) = permits.try_acquire_owned() else {
        tracing::warn!(
            max = policy.max_in_flight,
            "cloud.max_in_flight requests are in flight; staying on the device"
        );
        if let Some(b) = lock(&inner.router.breaker).as_mut() {
            b.release();
        }
        return None;
    };
    let tools: Vec<IntentSchema> = if policy.tools {
        inner
            .recognizer
            .catalog(language)
            .map(|c| {
                c.intents
                    .iter()
                    .filter(|i| !policy.is_private(&i.name))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let request = CloudRequest {
        text: text.to_string(),
        language: language.clone(),
        tools,
    };
    let offered: Vec<String> = request.tools.iter().map(|t| t.name.clone()).collect();
    let call_cancel = Arc::new(CancelToken::new());
    let _guard = CallGuard(call_cancel.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let c2 = call_cancel.clone();
    let t0 = Instant::now();
    let call = super::blocking::stage("cloud", move || {
        let _permit = permit;
        let mut send = |chunk: &str| {
            let _ = tx.send(chunk.to_string());
        };
        model.complete(&request, &c2, &mut send)
    });
    tokio::pin!(call);
    let budget = Duration::from_millis(policy.first_token_ms);
    let whole = Duration::from_millis(policy.answer_timeout_ms) + Duration::from_millis(500);
    let joined = |r: Result<Result<CloudReply, CloudFailure>, tokio::task::JoinError>| match r {
        Ok(r) => r,
        Err(e) => Err(CloudFailure::Malformed(format!(
            "the cloud call stopped: {e}"
        ))),
    };

    // Until the first token (or the whole answer, for a tool call), within the budget.
    // Chunks are read before the call's end so none is lost.
    let mut said = String::new();
    let first: Option<Result<CloudReply, CloudFailure>> = tokio::select! {
        biased;
        _ = cancel.cancelled() => Some(Err(CloudFailure::Cancelled)),
        chunk = rx.recv() => match chunk {
            Some(c) => {
                said.push_str(&c);
                None
            }
            None => Some(joined((&mut call).await)),
        },
        _ = tokio::time::sleep(budget) => Some(Err(CloudFailure::Timeout(format!(
            "no first token within cloud.first_token_ms = {} ms",
            policy.first_token_ms
        )))),
    };
    let result = match first {
        Some(r) => r,
        None => {
            // Streaming: each piece as a ResponseChunk, until the end or the whole-answer
            // timeout.
            *streamed |= emit_chunk(inner, turn, cancel, &said);
            let deadline = tokio::time::Instant::from_std(t0 + whole);
            let mut end = None;
            while end.is_none() {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => end = Some(Err(CloudFailure::Cancelled)),
                    chunk = rx.recv() => match chunk {
                        Some(c) => {
                            said.push_str(&c);
                            *streamed |= emit_chunk(inner, turn, cancel, &c);
                        }
                        None => end = Some(joined((&mut call).await)),
                    },
                    _ = tokio::time::sleep_until(deadline) => end = Some(Err(CloudFailure::Timeout(format!(
                        "the answer took longer than cloud.answer_timeout_ms = {} ms",
                        policy.answer_timeout_ms
                    )))),
                }
            }
            end.unwrap_or(Err(CloudFailure::Cancelled))
        }
    };
    tally.usage.cloud_time += t0.elapsed();
    settle(
        inner, turn, language, result, &offered, &said, &policy, tally,
    )
}

/// Emits `text` as a `ResponseChunk` of `turn` (when there is a turn, it is not cancelled and
/// the text is not empty); whether it did.
fn emit_chunk(inner: &Inner, turn: Option<TurnId>, cancel: &CancelToken, text: &str) -> bool {
    match turn {
        Some(turn) if !text.is_empty() && !cancel.is_cancelled() => {
            inner.emit(Event::ResponseChunk {
                turn,
                text: text.to_string(),
            });
            true
        }
        _ => false,
    }
}

/// The cloud call's end: the breaker, the figures, and what the turn does next.
#[allow(clippy::too_many_arguments)]
fn settle(
    inner: &Inner,
    turn: Option<TurnId>,
    language: &Language,
    result: Result<CloudReply, CloudFailure>,
    offered: &[String],
    said: &str,
    policy: &CloudConfig,
    tally: &mut Tally,
) -> Option<Beyond> {
    // A tool call naming an intent that was not offered is refused here too, whatever the
    // client checked.
    let result = result.and_then(|r| match &r.answer {
        CloudAnswer::Intent { intent, .. } if !offered.contains(intent) => Err(
            CloudFailure::Refused(format!("{intent:?} is not an intent offered to the cloud")),
        ),
        _ => Ok(r),
    });
    let u = &mut tally.usage;
    match result {
        Ok(reply) => {
            breaker_outcome(inner, |b| b.success());
            u.cloud_outcome = Some("ok");
            u.cloud_tokens_in += reply.tokens_in;
            u.cloud_tokens_out += reply.tokens_out;
            u.cloud_tokens_estimated |= reply.estimated;
            u.cloud_cost += reply.tokens_in as f64 * policy.price_input_per_1k / 1000.0
                + reply.tokens_out as f64 * policy.price_output_per_1k / 1000.0;
            match reply.answer {
                CloudAnswer::Intent { intent, slots } => {
                    u.source = Some(Source::Cloud);
                    tracing::info!(%intent, "cloud intent");
                    let m =
                        inner
                            .recognizer
                            .complete_match(language, &intent, slots, CLOUD_CONFIDENCE);
                    Some(Beyond::Intent(m, Tier::Cloud))
                }
                CloudAnswer::Text(answer) if turn.is_some() && !answer.trim().is_empty() => {
                    u.source = Some(Source::Cloud);
                    tracing::info!(tokens_out = reply.tokens_out, "cloud answer");
                    Some(Beyond::Done(Outcome {
                        status: TurnStatus::Ok,
                        response: answer.trim().to_string(),
                        intent: None,
                    }))
                }
                CloudAnswer::Text(_) => None,
            }
        }
        Err(failure) => {
            u.cloud_outcome = Some(failure.kind());
            if failure.counts_for_breaker() {
                let now = Instant::now();
                breaker_outcome(inner, |b| b.failure(now));
            } else {
                breaker_outcome(inner, |b| {
                    b.release();
                    Transition::None
                });
            }
            if failure == CloudFailure::Cancelled {
                return None;
            }
            tracing::warn!(kind = failure.kind(), "{failure}");
            if said.trim().is_empty() || turn.is_none() {
                return None;
            }
            // Part of the answer was already given: end the turn honestly with it.
            u.source = Some(Source::Cloud);
            Some(Beyond::Done(Outcome {
                status: TurnStatus::Failed,
                response: said.trim().to_string(),
                intent: None,
            }))
        }
    }
}

/// Records an outcome on the breaker; an opening or closing is logged and announced
/// (`CloudState`).
fn breaker_outcome(inner: &Inner, f: impl FnOnce(&mut Breaker) -> Transition) {
    let transition = match lock(&inner.router.breaker).as_mut() {
        Some(b) => f(b),
        None => return,
    };
    match transition {
        Transition::Opened => {
            let policy = lock(&inner.router.cloud)
                .as_ref()
                .map(|c| (c.policy.breaker_failures, c.policy.breaker_cooldown_ms));
            let (n, ms) = policy.unwrap_or_default();
            tracing::warn!(
                failures = n,
                cooldown_ms = ms,
                "cloud breaker open: {n} cloud failures in a row; staying on the device for {ms} ms (cloud.breaker_failures, cloud.breaker_cooldown_ms)"
            );
            lock(&inner.router.ledger).totals.breaker_opened += 1;
            inner.emit(Event::PropertyChanged(Property::CloudState));
        }
        Transition::Closed => {
            tracing::info!("cloud breaker closed: the cloud answered again");
            inner.emit(Event::PropertyChanged(Property::CloudState));
        }
        Transition::None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_follows_the_mode() {
        use DeviceOutcome::*;
        use RoutingMode::*;
        for o in [
            Grammar,
            GrammarMissed,
            ModelIntent,
            NoIntent,
            Answered { trusted: false },
        ] {
            assert!(!escalate(Local, o), "{o:?}");
        }
        assert!(escalate(Hybrid, NoIntent));
        assert!(escalate(Hybrid, Answered { trusted: false }));
        assert!(!escalate(Hybrid, Answered { trusted: true }));
        assert!(!escalate(Hybrid, GrammarMissed));
        assert!(!escalate(Hybrid, ModelIntent));
        assert!(!escalate(Hybrid, Grammar));
        assert!(escalate(Cloud, GrammarMissed));
        assert!(!escalate(Cloud, Grammar));
        assert!(
            !escalate(Cloud, NoIntent),
            "cloud mode asked already: the device's answer follows"
        );
    }

    #[test]
    fn contact_names_are_found_as_whole_words() {
        assert!(contains_words(
            "please ring alice zephyrine now",
            "alice zephyrine"
        ));
        assert!(!contains_words("malice aforethought", "alice"));
        assert!(contains_words("给张伟打电话", "张伟"));
        assert!(!contains_words("anything", ""));
    }
}
