//! The `io.skylark.Assistant1` interface: each method translates its arguments, forwards to
//! the [`Engine`] and translates the answer back. No logic lives here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use zbus::message::Header;
use zbus::object_server::{ResponseDispatchNotifier, SignalEmitter};
use zbus::{interface, ObjectPath, OwnedFd, OwnedObjectPath, OwnedVariant};

use super::convert::{slots_to_dbus, turn_id, turn_path, Options};
use super::error::MethodError;
use crate::engine::{AskOptions, Engine, HandlerAddress};

pub const INTERFACE: &str = "io.skylark.Assistant1";

/// A reply that, once sent, lets the turn start (so no signal of a turn precedes its path).
type TurnReply = ResponseDispatchNotifier<OwnedObjectPath>;
/// What a turn awaits before it starts.
type Gate = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

pub struct Assistant {
    engine: Engine,
    /// Bounds the method calls served at once (`dbus.max_pending_calls`).
    pending: Arc<Semaphore>,
    /// `Transcribe` calls reading their descriptor, counted apart: a client trickling bytes
    /// into pipes holds these, never the permits every other call needs.
    reads: Arc<Semaphore>,
    /// Reads in progress per client (unique bus name), at most `per_client`.
    readers: Arc<Mutex<HashMap<String, usize>>>,
    per_client: usize,
}

/// The limits the service enforces (the `dbus.*` config keys of the same names).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_pending_calls: usize,
    pub max_transcribe_reads: usize,
    pub max_transcribe_reads_per_client: usize,
}

impl Limits {
    pub fn from_config(c: &crate::config::DbusConfig) -> Limits {
        Limits {
            max_pending_calls: c.max_pending_calls,
            max_transcribe_reads: c.max_transcribe_reads,
            max_transcribe_reads_per_client: c.max_transcribe_reads_per_client,
        }
    }
}

/// One client's read in progress: counted while it lives.
struct ReadPermit {
    _global: OwnedSemaphorePermit,
    readers: Arc<Mutex<HashMap<String, usize>>>,
    client: String,
}

impl Drop for ReadPermit {
    fn drop(&mut self) {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = readers.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                readers.remove(&self.client);
            }
        }
    }
}

impl Assistant {
    pub fn new(engine: Engine, limits: Limits) -> Assistant {
        Assistant {
            engine,
            pending: Arc::new(Semaphore::new(limits.max_pending_calls)),
            reads: Arc::new(Semaphore::new(limits.max_transcribe_reads)),
            readers: Arc::default(),
            per_client: limits.max_transcribe_reads_per_client,
        }
    }

    /// A `Transcribe` of `client` may read its descriptor: within the client's share and the
    /// service's, else `Busy` at once.
    fn admit_read(&self, client: String) -> Result<ReadPermit, MethodError> {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        let n = readers.get(&client).copied().unwrap_or(0);
        if n >= self.per_client {
            return Err(MethodError::Busy(format!(
                "this client already has {n} Transcribe calls in progress \
                 (dbus.max_transcribe_reads_per_client); wait for one to finish"
            )));
        }
        let global = self.reads.clone().try_acquire_owned().map_err(|_| {
            MethodError::Busy(
                "too many Transcribe calls in progress (dbus.max_transcribe_reads); retry later"
                    .into(),
            )
        })?;
        readers.insert(client.clone(), n + 1);
        Ok(ReadPermit {
            _global: global,
            readers: self.readers.clone(),
            client,
        })
    }

    fn admit(&self) -> Result<OwnedSemaphorePermit, MethodError> {
        self.pending.clone().try_acquire_owned().map_err(|_| {
            MethodError::Busy(
                "too many calls in progress (dbus.max_pending_calls); retry later".into(),
            )
        })
    }

    /// Starts a turn with `start`, and returns the reply whose sending lets it run.
    fn turn_reply(
        &self,
        begin: impl FnOnce(Gate) -> Result<crate::engine::TurnId, crate::engine::EngineError>,
    ) -> Result<TurnReply, MethodError> {
        let (tx, rx) = oneshot::channel();
        let gate: Gate = Box::pin(async move {
            if let Ok(sent) = rx.await {
                let sent: zbus::object_server::ResponseDispatchListener = sent;
                sent.await;
            }
        });
        let id = begin(gate)?;
        let (reply, sent) = ResponseDispatchNotifier::new(turn_path(id));
        let _ = tx.send(sent);
        Ok(reply)
    }

    /// `RegisterHandler` for `owner`.
    async fn register(
        &self,
        owner: String,
        object: &ObjectPath<'_>,
        intents: Vec<String>,
        conn: &zbus::Connection,
    ) -> Result<(), MethodError> {
        // A client that left may not be forgotten yet (NameOwnerChanged is handled on another
        // task): ask the bus before refusing its intents to a newcomer.
        let others = self.engine.handler_owners(&intents, &owner);
        if !others.is_empty() {
            let bus = zbus::fdo::DBusProxy::new(conn).await?;
            for other in others {
                let Ok(name) = zbus::names::BusName::try_from(other.as_str()) else {
                    continue;
                };
                if !bus.name_has_owner(name).await.unwrap_or(true) {
                    self.engine.forget_owner(&other);
                }
            }
        }
        Ok(self.engine.register_handler(
            HandlerAddress {
                owner,
                object: object.to_string(),
            },
            intents,
        )?)
    }
}

/// Arguments past this many bytes make a request large: after one, the freed memory is handed
/// back to the system (`alloc::give_back`).
const LARGE_REQUEST_BYTES: usize = 64 * 1024;

fn sender(header: &Header<'_>) -> Result<String, MethodError> {
    header.sender().map(|s| s.to_string()).ok_or_else(|| {
        MethodError::AccessDenied(
            "the call has no sender; handlers must be registered over a bus".into(),
        )
    })
}

#[interface(name = "io.skylark.Assistant1")]
impl Assistant {
    /// Text → intent; nothing is executed. `intent` is "" when nothing matched; `source` is
    /// grammar, llm, cloud or none. Options: language (s).
    #[zbus(out_args("intent", "slots", "confidence", "source"))]
    async fn recognize(
        &self,
        text: &str,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<(String, HashMap<String, OwnedVariant>, f64, String), MethodError> {
        let _permit = self.admit()?;
        let language = Options(&options).string("language")?;
        let r = self
            .engine
            .recognize_hybrid(text, language.as_deref())
            .await?;
        Ok((
            r.intent,
            slots_to_dbus(&r.slots),
            r.confidence,
            r.source.as_str().to_string(),
        ))
    }

    /// A whole turn on text: recognise, dispatch to the handler, answer, speak unless
    /// speak=false. Options: language (s), speak (b). Progress comes as signals of `turn`.
    #[zbus(out_args("turn"))]
    async fn ask(
        &self,
        text: &str,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<TurnReply, MethodError> {
        let _permit = self.admit()?;
        let o = Options(&options);
        let opts = AskOptions {
            language: o.string("language")?,
            speak: o.boolean("speak")?,
        };
        self.turn_reply(|gate| self.engine.ask(text, opts, gate))
    }

    /// Push-to-talk: capture until the end of speech, then as Ask. Options: language (s).
    #[zbus(out_args("turn"))]
    async fn start_listening(
        &self,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<OwnedObjectPath, MethodError> {
        let _permit = self.admit()?;
        let language = Options(&options).string("language")?;
        let id = self.engine.start_listening(language.as_deref())?;
        Ok(turn_path(id))
    }

    /// Speech recognition of a WAV file (or raw s16le 16 kHz mono with format=raw) passed as
    /// a file descriptor. Options: format (s), language (s).
    #[zbus(out_args("text"))]
    async fn transcribe(
        &self,
        fd: OwnedFd,
        options: HashMap<String, OwnedVariant>,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String, MethodError> {
        // Counted apart from max_pending_calls: reading a client's pipe can take up to
        // audio::input::READ_DEADLINE.
        let client = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let _permit = self.admit_read(client)?;
        let o = Options(&options);
        let raw = match o.string("format")?.as_deref() {
            None | Some("wav") => false,
            Some("raw") => true,
            Some(other) => {
                return Err(MethodError::InvalidArgument(format!(
                    "format {other:?} is not wav or raw"
                )))
            }
        };
        let language = o.string("language")?;
        let file = std::fs::File::from(std::os::fd::OwnedFd::from(fd));
        Ok(self
            .engine
            .transcribe(file, raw, language.as_deref())
            .await?)
    }

    /// Say this text. Options: language (s).
    #[zbus(out_args("turn"))]
    async fn speak(
        &self,
        text: &str,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<TurnReply, MethodError> {
        let _permit = self.admit()?;
        let language = Options(&options).string("language")?;
        self.turn_reply(|gate| self.engine.speak(text, language.as_deref(), gate))
    }

    /// Stop that turn at once, whatever it is doing. A finished turn is left alone.
    async fn cancel(&self, turn: ObjectPath<'_>) -> Result<(), MethodError> {
        let id = turn_id(&turn)?;
        Ok(self.engine.cancel(id)?)
    }

    /// The caller serves io.skylark.Assistant1.Handler at `object` for these intents.
    async fn register_handler(
        &self,
        object: ObjectPath<'_>,
        intents: Vec<String>,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> Result<(), MethodError> {
        let owner = sender(&header)?;
        // A list of intents this large is refused, but its strings are freed in small blocks:
        // hand them back (100,000 names kept a text daemon up to 4 MB, 18 %, larger).
        let large = intents.iter().map(String::len).sum::<usize>() > LARGE_REQUEST_BYTES;
        let result = self.register(owner, &object, intents, conn).await;
        if large {
            crate::alloc::give_back();
        }
        result
    }

    /// The caller's handler at `object` serves no intent any more.
    async fn unregister_handler(
        &self,
        object: ObjectPath<'_>,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), MethodError> {
        let owner = sender(&header)?;
        Ok(self.engine.unregister_handler(&HandlerAddress {
            owner,
            object: object.to_string(),
        })?)
    }

    /// Replace a slot list (contacts, POIs, playlists) with (spoken form, value) pairs.
    async fn set_list(&self, name: &str, values: Vec<(String, String)>) -> Result<(), MethodError> {
        let _permit = self.admit()?;
        let large =
            values.iter().map(|(s, v)| s.len() + v.len()).sum::<usize>() > LARGE_REQUEST_BYTES;
        let result = self.engine.set_list(name, values);
        // An accepted list is handed back by the engine; a refused one here (10,001 entries
        // kept a text daemon 1 MB larger).
        if large && result.is_err() {
            crate::alloc::give_back();
        }
        Ok(result?)
    }

    /// One turn's figures (a{sv}): source (s: grammar, llm, cloud, none), device_tokens,
    /// cloud_tokens_in, cloud_tokens_out, device_time_us, cloud_time_us (t), cloud_cost (d),
    /// cloud_tokens_estimated, kept_private (b), cloud_outcome (s: "" when the cloud was not
    /// asked, ok, or why it failed). Kept for the last 256 turns.
    #[zbus(out_args("usage"))]
    async fn turn_usage(
        &self,
        turn: ObjectPath<'_>,
    ) -> Result<HashMap<String, OwnedVariant>, MethodError> {
        let id = turn_id(&turn)?;
        let u = self.engine.turn_usage(id).ok_or_else(|| {
            MethodError::NotFound(format!(
                "no figures for {turn}: it has not finished understanding, or it is too old"
            ))
        })?;
        Ok(super::usage::turn_to_dbus(&u))
    }

    /// The last finished turns, newest first, at most `count` (and at most the last 256):
    /// each turn's record and trace as a{sv} (README § Turn traces).
    #[zbus(out_args("turns"))]
    async fn recent_turns(
        &self,
        count: u32,
    ) -> Result<Vec<HashMap<String, OwnedVariant>>, MethodError> {
        let _permit = self.admit()?;
        Ok(self
            .engine
            .recent_turns(count as usize)
            .iter()
            .map(super::usage::trace_to_dbus)
            .collect())
    }

    /// Where the resident memory goes (a{sv}): rss_bytes, peak_rss_bytes (t), other_bytes
    /// (x), stages (a{sx}: what each stage's load at start-up added).
    #[zbus(out_args("memory"))]
    async fn memory_usage(&self) -> Result<HashMap<String, OwnedVariant>, MethodError> {
        let _permit = self.admit()?;
        Ok(super::usage::memory_to_dbus(&self.engine.memory()))
    }

    /// Device and cloud accounting since the daemon started (a{sv}; see README § Hybrid
    /// scheduling). Not signalled: it changes every turn.
    #[zbus(property(emits_changed_signal = "false"))]
    fn usage(&self) -> HashMap<String, OwnedVariant> {
        super::usage::totals_to_dbus(&self.engine.usage(), self.engine.cloud_state())
    }

    /// The cloud tier: off (not configured), ready, or open (the breaker keeps turns on the
    /// device for a cool-down). Changes are signalled as invalidated.
    #[zbus(property(emits_changed_signal = "invalidates"))]
    fn cloud_state(&self) -> String {
        self.engine.cloud_state().to_string()
    }

    /// idle, listening, thinking or speaking.
    #[zbus(property)]
    fn state(&self) -> String {
        self.engine.state().as_str().to_string()
    }

    /// BCP-47, case-insensitive: en, zh-CN (zh and zh-Hans mean zh-CN).
    #[zbus(property)]
    fn language(&self) -> String {
        self.engine.language().to_string()
    }

    #[zbus(property)]
    fn set_language(&self, value: &str) -> Result<(), MethodError> {
        Ok(self.engine.set_language(value)?)
    }

    /// local, hybrid or cloud.
    #[zbus(property)]
    fn routing_mode(&self) -> String {
        self.engine.routing_mode().as_str().to_string()
    }

    #[zbus(property)]
    fn set_routing_mode(&self, value: &str) -> Result<(), MethodError> {
        Ok(self.engine.set_routing_mode(value)?)
    }

    /// Listen for the wake word (needs a wake-word model).
    #[zbus(property)]
    fn wake_word_enabled(&self) -> bool {
        self.engine.wake_word_enabled()
    }

    #[zbus(property)]
    fn set_wake_word_enabled(&self, value: bool) -> Result<(), MethodError> {
        Ok(self.engine.set_wake_word_enabled(value)?)
    }

    /// Loudness of speech, 0 (silent) to 1 (as synthesised); starts at `tts.volume`.
    #[zbus(property)]
    fn volume(&self) -> f64 {
        self.engine.volume()
    }

    #[zbus(property)]
    fn set_volume(&self, value: f64) -> Result<(), MethodError> {
        Ok(self.engine.set_volume(value)?)
    }

    /// The intents of the grammar, sorted (fixed for the life of the daemon).
    #[zbus(property(emits_changed_signal = "const"))]
    fn intents(&self) -> Vec<String> {
        self.engine.intents()
    }

    /// The daemon's version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        self.engine.version().to_string()
    }

    /// The wake word was heard (score 0..1).
    #[zbus(signal)]
    pub async fn wake_word_detected(
        emitter: &SignalEmitter<'_>,
        keyword: &str,
        score: f64,
    ) -> zbus::Result<()>;

    /// Speech recognised in `turn`: partial (final=false) or final text.
    #[zbus(signal)]
    pub async fn transcript(
        emitter: &SignalEmitter<'_>,
        turn: ObjectPath<'_>,
        text: &str,
        r#final: bool,
    ) -> zbus::Result<()>;

    /// `turn` was understood as `intent`; emitted whether or not a handler serves it.
    /// Numeric slots are d, text slots s.
    #[zbus(signal)]
    pub async fn intent_recognized(
        emitter: &SignalEmitter<'_>,
        turn: ObjectPath<'_>,
        intent: &str,
        slots: HashMap<String, OwnedVariant>,
        confidence: f64,
        source: &str,
    ) -> zbus::Result<()>;

    /// Text of the answer of `turn`, as it becomes known (before it is spoken).
    #[zbus(signal)]
    pub async fn response_chunk(
        emitter: &SignalEmitter<'_>,
        turn: ObjectPath<'_>,
        text: &str,
    ) -> zbus::Result<()>;

    /// `turn` ended. status: ok, no_intent, cancelled, failed or timeout; response: what was
    /// (or would have been) said.
    #[zbus(signal)]
    pub async fn turn_finished(
        emitter: &SignalEmitter<'_>,
        turn: ObjectPath<'_>,
        status: &str,
        response: &str,
    ) -> zbus::Result<()>;

    /// The trace of `turn`, sent right after its TurnFinished: the same a{sv} as one entry of
    /// RecentTurns.
    #[zbus(signal)]
    pub async fn turn_trace(
        emitter: &SignalEmitter<'_>,
        turn: ObjectPath<'_>,
        trace: HashMap<String, OwnedVariant>,
    ) -> zbus::Result<()>;
}
