//! The engine: the one API every adapter (D-Bus service, CLI, JNI binding) uses.
//!
//! It owns the models (the intent grammar today; speech stages plug in through
//! [`stages`]), the turn state machine (idle → listening → thinking → speaking), the intent
//! handlers and the properties of the contract (`Language`, `RoutingMode`, …). It knows no
//! transport: adapters call its methods and listen to its [`Event`]s on a broadcast channel.
//!
//! Concurrency: text turns run concurrently (up to `max_concurrent_turns`); the audio path
//! (microphone, speaker) serves one turn at a time — a turn that wants to speak waits for the
//! speaker. Every turn is cancellable, and each records its stage timings.

mod blocking;
mod breaker;
mod error;
mod event;
mod handlers;
mod health;
mod listen;
mod llm;
mod memory;
mod options;
mod places;
mod route;
mod run;
mod semantic;
mod stages;
#[cfg(test)]
mod tests;
mod turn;
mod usage;

pub use error::EngineError;
pub use event::{Event, Property, Source, Tier};
pub use handlers::{
    DispatchError, DispatchFuture, HandlerAddress, HandlerCall, HandlerRegistry, HandlerReply,
    IntentDispatcher,
};
pub use health::{Health, STALL_HOOK};
pub use llm::{GateReason, LanguageModel, ModelAnswer, ModelIntent, Verdict};
pub use memory::{
    apportion as apportion_memory, at_start as memory_at_start, measure as measure_memory,
    MemoryReport, StageMemory,
};
pub use options::{AskOptions, EngineConfig, Recognition, RoutingMode};
pub use route::{
    escalate, CloudAnswer, CloudFailure, CloudModel, CloudReply, CloudRequest, DeviceOutcome,
};
pub use semantic::{SemanticIntent, SemanticMatcher};
pub use stages::{
    Alternatives, Audio, Capture, CommandGrammar, Speaker, Stage, StageError, Stages, Transcriber,
};
pub use turn::{
    format_ms, CancelToken, Mark, Span, State, TurnId, TurnKind, TurnRecord, TurnStatus, TurnTrace,
};
pub use usage::{TurnUsage, UsageTotals};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::nlu::{DialogueContext, Language, Recognizer};

/// Events a slow subscriber may fall behind by before it loses some (it is told how many).
const EVENT_CAPACITY: usize = 4096;
/// Finished turns kept for statistics.
const RECENT_TURNS: usize = 256;
/// Distinct dynamic lists `SetList` may create (the grammar's own lists are not counted).
const MAX_LISTS: usize = 64;
/// Longest spoken form or value in a `SetList` entry, in bytes.
const MAX_LIST_ITEM_BYTES: usize = 512;

/// A running turn, as the engine tracks it.
struct ActiveTurn {
    state: State,
    cancel: Arc<CancelToken>,
    /// The grammar's tag of the turn's language, for its record.
    language: String,
    /// The intent recognized (kept for the record of a turn cancelled after it).
    intent: Option<String>,
    trace: TurnTrace,
}

struct Shared {
    language: Language,
    routing: RoutingMode,
    wake_word_enabled: bool,
    volume: f64,
    state: State,
    next_turn: u64,
    active: HashMap<TurnId, ActiveTurn>,
    recent: VecDeque<TurnRecord>,
    handlers: HandlerRegistry,
    lists: HashSet<String>,
    dialogue: DialogueContext,
    shutting_down: bool,
}

pub(crate) struct Inner {
    config: EngineConfig,
    recognizer: Recognizer,
    stages: Stages,
    events: broadcast::Sender<Event>,
    shared: Mutex<Shared>,
    dispatcher: Mutex<Option<Arc<dyn IntentDispatcher>>>,
    /// The lite LLM (intent fallback and answers), when loaded.
    llm: Mutex<Option<llm::LlmStage>>,
    /// The semantic tier (intent by meaning, between the grammar and the LLM), when loaded.
    semantic: Mutex<Option<Arc<dyn SemanticMatcher>>>,
    /// Device / cloud routing: the cloud tier, its breaker, privacy, accounting.
    router: route::Router,
    /// The speaker: one turn speaks at a time.
    speaker_lock: tokio::sync::Mutex<()>,
    /// Signalled when the last turn finishes (used by shutdown).
    idle: tokio::sync::Notify,
    /// Whether "speech output is not available" was logged at warn level already.
    speech_missing_logged: std::sync::atomic::AtomicBool,
    /// What each stage's load added to the resident memory (`note_memory`).
    memory: Mutex<Vec<StageMemory>>,
}

/// The engine. Cheap to clone (an `Arc`); every method may be called from any thread.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// An engine over `recognizer` with the given speech stages. Must be created inside a
    /// Tokio runtime if turns will be started (they run as tasks).
    pub fn new(config: EngineConfig, recognizer: Recognizer, stages: Stages) -> Engine {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        recognizer.set_tolerant_threshold(config.tolerant_threshold);
        let language = if recognizer.supports(&config.language) {
            config.language.clone()
        } else {
            recognizer
                .languages()
                .into_iter()
                .next()
                .unwrap_or_else(Language::english)
        };
        let shared = Shared {
            language,
            routing: RoutingMode::Local,
            wake_word_enabled: false,
            volume: config.volume.clamp(0.0, 1.0),
            state: State::Idle,
            next_turn: 1,
            active: HashMap::new(),
            recent: VecDeque::with_capacity(RECENT_TURNS),
            handlers: HandlerRegistry::new(),
            lists: HashSet::new(),
            dialogue: DialogueContext::new(),
            shutting_down: false,
        };
        Engine {
            inner: Arc::new(Inner {
                config,
                recognizer,
                stages,
                events,
                shared: Mutex::new(shared),
                dispatcher: Mutex::new(None),
                llm: Mutex::new(None),
                semantic: Mutex::new(None),
                router: route::Router::default(),
                speaker_lock: tokio::sync::Mutex::new(()),
                idle: tokio::sync::Notify::new(),
                speech_missing_logged: std::sync::atomic::AtomicBool::new(false),
                memory: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Events from now on. A subscriber that falls more than a few thousand events behind
    /// loses the oldest (its `recv` says how many).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// How intents reach their handlers (the D-Bus service sets this at start).
    pub fn set_dispatcher(&self, dispatcher: Arc<dyn IntentDispatcher>) {
        *lock(&self.inner.dispatcher) = Some(dispatcher);
    }

    /// The language model used when the grammar has no match (the daemon sets it at start
    /// if the model is installed; without it the grammar alone answers).
    /// At most `max_waiting` requests wait for it at once (`llm.max_waiting`); past that a
    /// request is answered without it.
    pub fn set_llm(&self, llm: Arc<dyn LanguageModel>, max_waiting: usize) {
        *lock(&self.inner.llm) = Some(llm::LlmStage::new(llm, max_waiting));
    }

    /// The semantic tier, asked after the grammar and before the LLM (the daemon sets it at
    /// start if the embedding model is installed; without it the LLM follows the grammar).
    pub fn set_semantic(&self, semantic: Arc<dyn SemanticMatcher>) {
        *lock(&self.inner.semantic) = Some(semantic);
    }

    /// The cloud tier (`[cloud]`), asked in `hybrid` and `cloud` routing modes as `route.rs`
    /// decides. Without it those modes stay on the device.
    pub fn set_cloud(&self, model: Arc<dyn CloudModel>, policy: crate::config::CloudConfig) {
        self.inner.router.set_cloud(model, policy);
        self.inner
            .emit(Event::PropertyChanged(Property::CloudState));
    }

    /// The `CloudState` property: `off` (no cloud tier), `ready`, or `open` (the breaker
    /// keeps turns on the device for a cool-down).
    pub fn cloud_state(&self) -> &'static str {
        self.inner.router.cloud_state()
    }

    /// Why `text` would stay on the device by the privacy rules (`None`: it may leave, in
    /// `hybrid` / `cloud` mode with a cloud tier). The check the router runs before each cloud
    /// request; a few microseconds to milliseconds (contact names, nearest grammar sentence).
    pub fn privacy_reason(&self, text: &str, language: &Language) -> Option<&'static str> {
        self.inner
            .router
            .privacy_reason(&self.inner, text, language)
    }

    /// Device and cloud accounting since start.
    pub fn usage(&self) -> UsageTotals {
        self.inner.router.totals()
    }

    /// The figures of one of the last turns that went through understanding.
    pub fn turn_usage(&self, id: TurnId) -> Option<TurnUsage> {
        self.inner.router.turn(id)
    }

    /// The intent grammar (read-only: lists change through `set_list`).
    pub fn recognizer(&self) -> &Recognizer {
        &self.inner.recognizer
    }

    pub fn has_semantic(&self) -> bool {
        lock(&self.inner.semantic).is_some()
    }

    pub fn has_llm(&self) -> bool {
        lock(&self.inner.llm).is_some()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    // --- properties -------------------------------------------------------------------------

    pub fn state(&self) -> State {
        self.inner.shared().state
    }

    pub fn language(&self) -> Language {
        self.inner.shared().language.clone()
    }

    /// Sets the language (BCP-47, case-insensitive); it must have a grammar.
    pub fn set_language(&self, tag: &str) -> Result<(), EngineError> {
        let language = self.inner.resolve_language(Some(tag))?;
        let changed = {
            let mut s = self.inner.shared();
            let changed = s.language != language;
            s.language = language;
            changed
        };
        if changed {
            self.inner.emit(Event::PropertyChanged(Property::Language));
        }
        Ok(())
    }

    pub fn routing_mode(&self) -> RoutingMode {
        self.inner.shared().routing
    }

    pub fn set_routing_mode(&self, mode: &str) -> Result<(), EngineError> {
        let mode = RoutingMode::parse(mode)?;
        let changed = {
            let mut s = self.inner.shared();
            let changed = s.routing != mode;
            s.routing = mode;
            changed
        };
        if changed {
            self.inner
                .emit(Event::PropertyChanged(Property::RoutingMode));
        }
        Ok(())
    }

    pub fn wake_word_enabled(&self) -> bool {
        self.inner.shared().wake_word_enabled
    }

    /// Turns wake-word listening on or off; on needs a wake-word detector.
    pub fn set_wake_word_enabled(&self, enabled: bool) -> Result<(), EngineError> {
        if enabled && self.inner.stages.wake_word.is_none() {
            return Err(EngineError::NotReady(
                "wake-word detection is not available: this build of skylark does not include it yet".into(),
            ));
        }
        let changed = {
            let mut s = self.inner.shared();
            let changed = s.wake_word_enabled != enabled;
            s.wake_word_enabled = enabled;
            changed
        };
        if changed {
            self.inner
                .emit(Event::PropertyChanged(Property::WakeWordEnabled));
        }
        Ok(())
    }

    /// Loudness of speech, 0 (silent) to 1 (as synthesised).
    pub fn volume(&self) -> f64 {
        self.inner.shared().volume
    }

    /// Sets the loudness of speech (0–1; anything else, NaN included, is `InvalidArgument`).
    /// It applies to what is spoken from now on, also to an utterance already playing.
    pub fn set_volume(&self, volume: f64) -> Result<(), EngineError> {
        if !(0.0..=1.0).contains(&volume) {
            return Err(EngineError::InvalidArgument(format!(
                "volume {volume} is out of range: expected a number from 0 to 1"
            )));
        }
        let changed = {
            let mut s = self.inner.shared();
            let changed = s.volume != volume;
            s.volume = volume;
            changed
        };
        if let Stage::Ready(speaker) = &self.inner.stages.speaker {
            speaker.set_volume(volume as f32);
        }
        if changed {
            self.inner.emit(Event::PropertyChanged(Property::Volume));
        }
        Ok(())
    }

    /// Intent names of the grammar, sorted.
    pub fn intents(&self) -> Vec<String> {
        self.inner.recognizer.intents().to_vec()
    }

    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// Notes what loading stages added to the resident memory (the assistant's builder
    /// measures each load with [`measure_memory`]); a stage noted again replaces its entry.
    pub fn note_memory(&self, loads: Vec<StageMemory>) {
        let mut memory = lock(&self.inner.memory);
        for load in loads {
            memory.retain(|m| m.stage != load.stage);
            memory.push(load);
        }
    }

    /// For stages that loaded at the same time (the daemon's): scales their noted figures so
    /// that, with `start`, they add up to the resident memory now ([`apportion_memory`]).
    /// Call once every load is noted, before turns run.
    pub fn settle_memory(&self) {
        let Some(rss) = crate::alloc::resident_bytes() else {
            return;
        };
        let mut memory = lock(&self.inner.memory);
        let start: i64 = memory
            .iter()
            .filter(|m| m.stage == "start")
            .map(|m| m.bytes)
            .sum();
        apportion_memory(&mut memory, rss as i64 - start);
    }

    /// The resident memory now, its peak, and what each stage's load added.
    pub fn memory(&self) -> MemoryReport {
        MemoryReport {
            rss_bytes: crate::alloc::resident_bytes().unwrap_or(0),
            peak_rss_bytes: crate::alloc::peak_resident_bytes().unwrap_or(0),
            stages: lock(&self.inner.memory).clone(),
        }
    }

    /// The most recent finished turns (at most `count`, and at most the last 256), newest
    /// first.
    pub fn recent_turns(&self, count: usize) -> Vec<TurnRecord> {
        self.inner
            .shared()
            .recent
            .iter()
            .rev()
            .take(count)
            .cloned()
            .collect()
    }

    // --- methods ----------------------------------------------------------------------------

    /// Text → intent; nothing is executed and the dialogue is not changed. Exact matches take
    /// microseconds; after an exact miss the tolerant match (`nlu.tolerant`) takes a few
    /// milliseconds, still on the caller's thread.
    pub fn recognize(
        &self,
        text: &str,
        language: Option<&str>,
    ) -> Result<Recognition, EngineError> {
        self.inner.check_text(text)?;
        let language = self.inner.resolve_language(language)?;
        let context = self.inner.shared().dialogue.clone();
        Ok(match self.inner.understand(text, &language, &context) {
            Some(m) => Recognition {
                intent: m.intent,
                slots: m.slots,
                confidence: m.confidence,
                source: Source::Grammar,
            },
            None => Recognition {
                intent: String::new(),
                slots: BTreeMap::new(),
                confidence: 0.0,
                source: Source::None,
            },
        })
    }

    /// What command mode hands the speech recogniser about the active grammar of `language`
    /// ([`Transcriber::transcribe_command`]): its sentences, for grammar-aware decoding, and
    /// (with `nlu.tolerant`) its closest sentences to a transcript, for the recogniser to
    /// weigh against the audio.
    pub fn command_grammar(&self, language: &Language) -> CommandGrammar {
        self.inner.command_grammar(language)
    }

    /// Text → intent with the hybrid order: the grammar first, then (when it has no match) the
    /// semantic tier and the LLM, each when loaded, on a blocking thread. `source` says which
    /// answered (`llm` for both model tiers).
    pub async fn recognize_hybrid(
        &self,
        text: &str,
        language: Option<&str>,
    ) -> Result<Recognition, EngineError> {
        self.inner.check_text(text)?;
        let language = self.inner.resolve_language(language)?;
        let context = self.inner.shared().dialogue.clone();
        if let Some((m, _)) = self
            .inner
            .understand_off_reactor(text, &language, &context)
            .await
        {
            return Ok(Recognition {
                intent: m.intent,
                slots: m.slots,
                confidence: m.confidence,
                source: Source::Grammar,
            });
        }
        let grammar = Recognition {
            intent: String::new(),
            slots: BTreeMap::new(),
            confidence: 0.0,
            source: Source::None,
        };
        if text.trim().is_empty() {
            return Ok(grammar);
        }
        match route::recognize_beyond_grammar(&self.inner, text, &language).await {
            Some((m, source)) => Ok(Recognition {
                intent: m.intent,
                slots: m.slots,
                confidence: m.confidence,
                source,
            }),
            None => Ok(grammar),
        }
    }

    /// Starts a whole turn on `text`. The work begins once `start` resolves — the D-Bus
    /// service passes "the reply was sent", so no signal of the turn can overtake the turn's
    /// path; the CLI passes `std::future::ready(())`.
    pub fn ask(
        &self,
        text: &str,
        options: AskOptions,
        start: impl Future<Output = ()> + Send + 'static,
    ) -> Result<TurnId, EngineError> {
        self.inner.check_text(text)?;
        if text.trim().is_empty() {
            return Err(EngineError::InvalidArgument(
                "nothing to ask: the text is empty".into(),
            ));
        }
        let language = self.inner.resolve_language(options.language.as_deref())?;
        let (id, cancel) = self.inner.begin_turn(State::Thinking, &language)?;
        let inner = self.inner.clone();
        let text = text.to_string();
        let speak = options.speak.unwrap_or(true);
        tokio::spawn(run::ask(inner, id, cancel, text, language, speak, start));
        Ok(id)
    }

    /// Starts a turn that says `text`.
    pub fn speak(
        &self,
        text: &str,
        language: Option<&str>,
        start: impl Future<Output = ()> + Send + 'static,
    ) -> Result<TurnId, EngineError> {
        self.inner.check_text(text)?;
        if text.trim().is_empty() {
            return Err(EngineError::InvalidArgument(
                "nothing to say: the text is empty".into(),
            ));
        }
        let language = self.inner.resolve_language(language)?;
        let (id, cancel) = self.inner.begin_turn(State::Thinking, &language)?;
        tokio::spawn(run::speak(
            self.inner.clone(),
            id,
            cancel,
            text.to_string(),
            language,
            start,
        ));
        Ok(id)
    }

    /// Push-to-talk: capture one utterance, then as [`Engine::ask`]. The microphone is one
    /// audio path: while a turn listens, another `StartListening` is `Busy`.
    pub fn start_listening(&self, language: Option<&str>) -> Result<TurnId, EngineError> {
        self.listen_turn(language, false)
    }

    /// A wake word was heard: emits `WakeWordDetected` and starts a listening turn whose audio
    /// is what follows the keyword. Called by the wake-word loop (`crate::listen::WakeLoop`).
    pub fn wake_word_detected(&self, keyword: &str, score: f64) -> Result<TurnId, EngineError> {
        self.inner.emit(Event::WakeWordDetected {
            keyword: keyword.to_string(),
            score,
        });
        self.listen_turn(None, true)
    }

    /// The user interrupted the assistant while it spoke (barge-in: the wake word, with
    /// `keyword`, or voice that is not its own echo): every speaking turn is cancelled (its
    /// playback stops within one 10 ms poll; it ends `cancelled`), then a listening turn starts
    /// on the audio that follows, as after a wake word. Called by the wake-word loop.
    pub fn barge_in(&self, keyword: Option<(&str, f64)>) -> Result<TurnId, EngineError> {
        // The keyword first, then the interrupted turn's end: signals in the order they
        // happened.
        if let Some((keyword, score)) = keyword {
            self.inner.emit(Event::WakeWordDetected {
                keyword: keyword.to_string(),
                score,
            });
        }
        let stopped = {
            let s = self.inner.shared();
            let mut n = 0;
            for t in s.active.values().filter(|t| t.state == State::Speaking) {
                t.cancel.cancel();
                n += 1;
            }
            n
        };
        tracing::info!(
            stopped,
            by = keyword.map(|(k, _)| k).unwrap_or("voice"),
            "barge-in: speaking stopped"
        );
        self.listen_turn(None, keyword.is_some())
    }

    /// Whether turn `id` is still running.
    pub fn is_running(&self, id: TurnId) -> bool {
        self.inner.shared().active.contains_key(&id)
    }

    /// A listening turn; `wake`: a wake word started it (noted in its trace).
    fn listen_turn(&self, language: Option<&str>, wake: bool) -> Result<TurnId, EngineError> {
        let language = self.inner.resolve_language(language)?;
        if let Stage::Missing(why) = &self.inner.stages.capture {
            return Err(EngineError::NotReady(why.clone()));
        }
        if let Stage::Missing(why) = &self.inner.stages.transcriber {
            return Err(EngineError::NotReady(why.clone()));
        }
        if self
            .inner
            .shared()
            .active
            .values()
            .any(|t| t.state == State::Listening)
        {
            return Err(EngineError::Busy(
                "another turn is listening; the microphone serves one turn at a time".into(),
            ));
        }
        let (id, cancel) = self.inner.begin_turn(State::Listening, &language)?;
        if wake {
            self.inner.mark(id, Mark::WakeWord);
        }
        tokio::spawn(listen::listen(
            self.inner.clone(),
            id,
            cancel,
            language,
            true,
        ));
        Ok(id)
    }

    /// Speech recognition of a WAV file (any rate, channels, 16/24/32-bit or float) or raw
    /// s16le 16 kHz mono with `raw`, read from a descriptor a client passed (a regular file or
    /// a pipe), at most `asr.max_audio_seconds` long. Reading and inference run on a blocking
    /// thread.
    pub async fn transcribe(
        &self,
        file: std::fs::File,
        raw: bool,
        language: Option<&str>,
    ) -> Result<String, EngineError> {
        let language = self.inner.resolve_language(language)?;
        let transcriber = match &self.inner.stages.transcriber {
            Stage::Ready(t) => t.clone(),
            Stage::Missing(why) => return Err(EngineError::NotReady(why.clone())),
        };
        transcriber
            .available(&language)
            .map_err(EngineError::NotReady)?;
        let max_seconds = self.inner.config.max_audio_seconds;
        let cancel = Arc::new(CancelToken::new());
        blocking::stage("transcribe", move || {
            let samples = crate::audio::input::read_client_audio(&file, raw, max_seconds)
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
            transcriber
                .transcribe(&Audio { samples }, &language, &cancel)
                .map_err(|e| EngineError::Failed(e.0))
        })
        .await
        .map_err(|e| EngineError::Failed(format!("speech recognition stopped: {e}")))?
    }

    /// Stops turn `id` at once. A turn that already finished is left alone (no error): the
    /// caller may have raced its end. A turn that never existed is `NotFound`.
    pub fn cancel(&self, id: TurnId) -> Result<(), EngineError> {
        let mut s = self.inner.shared();
        if id.0 == 0 || id.0 >= s.next_turn {
            return Err(EngineError::NotFound(format!("turn {id} does not exist")));
        }
        if let Some(t) = s.active.get_mut(&id) {
            t.trace.mark(Mark::Cancel);
            t.cancel.cancel();
        }
        Ok(())
    }

    /// `handler` serves `intents` (names of the catalog, see [`Engine::intents`]).
    pub fn register_handler(
        &self,
        handler: HandlerAddress,
        intents: Vec<String>,
    ) -> Result<(), EngineError> {
        if intents.is_empty() {
            return Err(EngineError::InvalidArgument(
                "RegisterHandler needs at least one intent".into(),
            ));
        }
        let known = self.inner.recognizer.intents();
        let mut unique: Vec<String> = Vec::new();
        for intent in intents {
            if known.binary_search(&intent).is_err() && !known.contains(&intent) {
                return Err(EngineError::InvalidArgument(format!(
                    "unknown intent {intent:?}: the Intents property lists the intents of the grammar"
                )));
            }
            if !unique.contains(&intent) {
                unique.push(intent);
            }
        }
        let max = self.inner.config.max_handlers;
        self.inner
            .shared()
            .handlers
            .register(handler.clone(), unique.clone(), max)?;
        tracing::info!(%handler, intents = ?unique, "handler registered");
        Ok(())
    }

    pub fn unregister_handler(&self, handler: &HandlerAddress) -> Result<(), EngineError> {
        if self.inner.shared().handlers.remove(handler) {
            tracing::info!(%handler, "handler unregistered");
            Ok(())
        } else {
            Err(EngineError::NotFound(format!(
                "no handler is registered at {handler}"
            )))
        }
    }

    /// The owners (other than `except`) of handlers serving any of `intents`.
    pub fn handler_owners(&self, intents: &[String], except: &str) -> Vec<String> {
        let s = self.inner.shared();
        let mut owners: Vec<String> = intents
            .iter()
            .filter_map(|i| s.handlers.lookup(i))
            .filter(|h| h.owner != except)
            .map(|h| h.owner.clone())
            .collect();
        owners.sort();
        owners.dedup();
        owners
    }

    /// Forgets every handler of a client that left the bus.
    pub fn forget_owner(&self, owner: &str) {
        let n = self.inner.shared().handlers.remove_owner(owner);
        if n > 0 {
            tracing::info!(
                owner,
                handlers = n,
                "client left the bus; its handlers are forgotten"
            );
        }
    }

    /// Replaces dynamic list `name` (contacts, POIs) with `(spoken form, value)` pairs.
    pub fn set_list(&self, name: &str, values: Vec<(String, String)>) -> Result<(), EngineError> {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !valid_name {
            return Err(EngineError::InvalidArgument(format!(
                "list name {name:?} is not valid: use 1 to 64 letters, digits, '_', '-' or '.'"
            )));
        }
        let max = self.inner.config.max_list_entries;
        if values.len() > max {
            return Err(EngineError::InvalidArgument(format!(
                "{} entries is more than the limit of {max} (dbus.max_list_entries)",
                values.len()
            )));
        }
        if let Some((s, v)) = values
            .iter()
            .find(|(s, v)| s.len() > MAX_LIST_ITEM_BYTES || v.len() > MAX_LIST_ITEM_BYTES)
        {
            let long = if s.len() > MAX_LIST_ITEM_BYTES { s } else { v };
            return Err(EngineError::InvalidArgument(format!(
                "list entry of {} bytes is longer than {MAX_LIST_ITEM_BYTES} bytes",
                long.len()
            )));
        }
        if values.iter().any(|(s, _)| s.trim().is_empty()) {
            return Err(EngineError::InvalidArgument(
                "a list entry has an empty spoken form".into(),
            ));
        }
        {
            let mut s = self.inner.shared();
            if !s.lists.contains(name) {
                if s.lists.len() >= MAX_LISTS {
                    return Err(EngineError::Busy(format!(
                        "{MAX_LISTS} dynamic lists exist already; reuse a list name"
                    )));
                }
                s.lists.insert(name.to_string());
            }
        }
        let n = values.len();
        self.inner.router.note_list(name, &values);
        self.inner.recognizer.set_list(name, values);
        // The old list and its compiled matcher are freed in blocks under the mmap threshold;
        // without this a 10,000-entry list replaced by a short one left a text daemon 30 %
        // larger for good (tests/hostile_clients.rs).
        crate::alloc::give_back();
        tracing::info!(list = name, entries = n, "list replaced");
        Ok(())
    }

    /// Cancels every turn and refuses new ones; returns once all turns ended or `within`
    /// passed.
    pub async fn shutdown(&self, within: Duration) {
        {
            let mut s = self.inner.shared();
            s.shutting_down = true;
            for t in s.active.values_mut() {
                t.trace.mark(Mark::Cancel);
                t.cancel.cancel();
            }
        }
        let wait = async {
            loop {
                let idle = self.inner.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.inner.shared().active.is_empty() {
                    return;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(within, wait).await.is_err() {
            tracing::warn!("turns still running at shutdown after {within:?}; leaving them");
        }
    }
}

/// How many of the grammar's closest sentences a recogniser weighs against the audio, and
/// down to which tolerant confidence they are taken (far below the tolerant threshold: the
/// audio decides among them; see `speech::transcriber`).
const CLOSEST_SENTENCES: usize = 6;
const CLOSEST_FLOOR: f64 = 0.2;

impl Inner {
    /// See [`Engine::command_grammar`]. The dialogue context is the one at the call.
    pub(crate) fn command_grammar(self: &Arc<Self>, language: &Language) -> CommandGrammar {
        let sentences = self
            .recognizer
            .samples(language)
            .into_iter()
            .map(|s| s.text)
            .collect();
        let closest = self.config.tolerant.then(|| {
            let inner = self.clone();
            let language = language.clone();
            let context = self.shared().dialogue.clone();
            Box::new(move |text: &str| {
                let closest = inner.recognizer.closest_sentences(
                    text,
                    &language,
                    &context,
                    CLOSEST_FLOOR,
                    CLOSEST_SENTENCES,
                );
                let threshold = inner.recognizer.tolerant_threshold();
                let exact = inner.recognizer.recognize(text, &language, &context);
                // Sentences beside an exact match (one through a wildcard) must fit the
                // audio better than the reading, as beside a tolerant one.
                let understood = !closest.is_empty() && exact.is_some();
                Alternatives {
                    understood: understood
                        || closest.first().is_some_and(|c| c.confidence >= threshold),
                    exact: exact.is_some_and(|m| m.confidence >= 1.0),
                    sentences: closest.into_iter().map(|c| c.sentence).collect(),
                }
            }) as Box<dyn Fn(&str) -> Alternatives + Send + Sync>
        });
        // A grammar that offers no first word cannot be searched (a language written without
        // spaces): then nothing is weighed that the closest sentences do not ask for.
        let searchable =
            self.config.tolerant && !self.recognizer.next_words(&[], language).words.is_empty();
        let next_words = searchable.then(|| {
            let inner = self.clone();
            let language = language.clone();
            Box::new(move |said: &[&str]| {
                let next = inner.recognizer.next_words(said, &language);
                (next.words, next.can_end)
            }) as Box<dyn Fn(&[&str]) -> (Vec<String>, bool) + Send + Sync>
        });
        CommandGrammar {
            sentences,
            closest,
            next_words,
        }
    }

    /// The grammar's answer: the exact match, else (with `nlu.tolerant`) the tolerant one,
    /// whose confidence is below 1. The LLM comes after this.
    pub(crate) fn understand(
        &self,
        text: &str,
        language: &Language,
        context: &DialogueContext,
    ) -> Option<crate::nlu::IntentMatch> {
        if self.config.tolerant {
            self.recognizer.recognize_spoken(text, language, context)
        } else {
            self.recognizer.recognize(text, language, context)
        }
    }

    /// [`Inner::understand`] for async callers: the exact match (microseconds) on the
    /// caller's thread; after an exact miss the tolerant match (milliseconds) on a blocking
    /// thread, so the reactor never waits for it. The tier says which matched.
    pub(crate) async fn understand_off_reactor(
        self: &Arc<Self>,
        text: &str,
        language: &Language,
        context: &DialogueContext,
    ) -> Option<(crate::nlu::IntentMatch, Tier)> {
        if let Some(m) = self.recognizer.recognize(text, language, context) {
            return Some((m, Tier::Grammar));
        }
        if !self.config.tolerant {
            return None;
        }
        let inner = self.clone();
        let (text, language, context) = (text.to_string(), language.clone(), context.clone());
        blocking::stage("tolerant", move || {
            inner
                .recognizer
                .recognize_tolerant(&text, &language, &context)
        })
        .await
        .ok()
        .flatten()
        .map(|m| (m, Tier::Tolerant))
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// Sends `event` to the adapters; a turn's `Transcript`, `IntentRecognized` and first
    /// `ResponseChunk` are noted in its trace. Never called with the `shared` lock held for
    /// those events (noting takes it).
    fn emit(&self, event: Event) {
        let mark = match &event {
            Event::Transcript {
                turn,
                is_final: false,
                ..
            } => Some((*turn, Mark::FirstPartial)),
            Event::Transcript { turn, .. } => Some((*turn, Mark::FinalTranscript)),
            Event::IntentRecognized { turn, .. } => Some((*turn, Mark::IntentRecognized)),
            Event::ResponseChunk { turn, .. } => Some((*turn, Mark::FirstToken)),
            _ => None,
        };
        if let Some((turn, mark)) = mark {
            let intent = match &event {
                Event::IntentRecognized { intent, .. } => Some(intent.clone()),
                _ => None,
            };
            if let Some(t) = self.shared().active.get_mut(&turn) {
                t.trace.mark(mark);
                t.intent = intent.or(t.intent.take());
            }
        }
        // No subscriber is not an error: the CLI may not listen.
        let _ = self.events.send(event);
    }

    /// Changes the trace of running turn `id` (nothing when it finished already).
    fn with_trace(&self, id: TurnId, f: impl FnOnce(&mut TurnTrace)) {
        if let Some(t) = self.shared().active.get_mut(&id) {
            f(&mut t.trace);
        }
    }

    /// Notes `mark` now in turn `id`'s trace (the first time counts).
    fn mark(&self, id: TurnId, mark: Mark) {
        self.with_trace(id, |t| t.mark(mark));
    }

    /// Notes how long `span` of turn `id` took.
    fn span(&self, id: TurnId, span: Span, took: Duration) {
        self.with_trace(id, |t| t.set_span(span, took));
    }

    fn check_text(&self, text: &str) -> Result<(), EngineError> {
        let max = self.config.max_text_bytes;
        if text.len() > max {
            return Err(EngineError::InvalidArgument(format!(
                "text is {} bytes, more than the limit of {max} bytes (dbus.max_text_bytes)",
                text.len()
            )));
        }
        Ok(())
    }

    /// The language of a call: the option if given (it must have a grammar), else the
    /// `Language` property.
    fn resolve_language(&self, tag: Option<&str>) -> Result<Language, EngineError> {
        let Some(tag) = tag.filter(|t| !t.trim().is_empty()) else {
            return Ok(self.shared().language.clone());
        };
        let language =
            Language::parse(tag).map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        // The grammar's own tag: `en-US` is served by (and shown as) `en`.
        let languages = self.recognizer.languages();
        let found = languages
            .iter()
            .find(|l| **l == language)
            .or_else(|| languages.iter().find(|l| l.primary() == language.primary()));
        match found {
            Some(l) => Ok(l.clone()),
            None => {
                let have: Vec<String> = languages.iter().map(|l| l.to_string()).collect();
                Err(EngineError::InvalidArgument(format!(
                    "language {tag:?} has no intent grammar; available: {}",
                    have.join(", ")
                )))
            }
        }
    }
}

/// A poisoned lock only means a panic elsewhere; the data (plain values) is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
