//! One way to build an assistant: a [`Config`] and a models folder in, an [`Engine`] with every
//! stage that could load out, plus the reason for each stage that could not. The daemon, the
//! in-process CLI commands (`ask`, `listen`) and the JNI binding (`android/`) all build their
//! engine here, so they serve the same grammar, speech stages, language models and cloud tier.
//!
//! What differs between them is only where audio comes from and goes to ([`AudioIn`],
//! [`BuildOptions::speaker`]): the daemon owns the microphone and the speaker, `ask` only speaks,
//! and on Android the app owns both (it feeds captured audio through an
//! [`crate::audio::AudioSource`] and plays what [`crate::speech::VoiceSpeaker::synthesize`]
//! returns).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audio::AudioSource;
use crate::config::Config;
use crate::engine::{
    measure_memory, Engine, EngineConfig, EngineError, Stage, StageMemory, Stages,
};
use crate::listen::Listener;
use crate::nlu::{Grammar, NluError, Recognizer};

/// Why a stage the caller did not ask for is missing.
const NOT_ASKED: &str = "not loaded by this program (answers are text; an app that owns the audio plays synthesised speech itself)";

/// Where a listening turn's audio comes from.
pub enum AudioIn {
    /// No listening: `StartListening` answers `NotReady`.
    None,
    /// The configured microphone (`audio.input_device`).
    Microphone,
    /// Audio the embedding app captures and pushes (Android's `AudioRecord`).
    Source(Box<dyn AudioSource>),
}

/// Which stages to load. Loading costs time and memory (whisper, Piper, the LLM), so a one-shot
/// command loads only what it uses.
pub struct BuildOptions {
    /// Speech recognition (whisper).
    pub transcriber: bool,
    /// Speech output on the default output device.
    pub speaker: bool,
    pub audio_in: AudioIn,
}

impl BuildOptions {
    /// Everything, with the microphone and the speaker: the daemon and `skylark listen`.
    pub fn device() -> BuildOptions {
        BuildOptions {
            transcriber: true,
            speaker: true,
            audio_in: AudioIn::Microphone,
        }
    }
}

/// Why no assistant could be built at all (a missing stage is not an error: see
/// [`Assistant::missing`]).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the intent grammar: {0}")]
    Grammar(#[from] NluError),
    #[error("the configuration: {0}")]
    Config(#[from] EngineError),
}

/// A built assistant.
pub struct Assistant {
    pub engine: Engine,
    /// The listening front end behind the capture stage (for the wake-word loop).
    pub listener: Option<Arc<Listener>>,
    /// One line per stage that could not load: what is missing and the fix.
    pub missing: Vec<String>,
}

/// The built-in intent catalog plus the config's `nlu.intents` files or folders.
pub fn configured_recognizer(config: &Config) -> Result<Recognizer, NluError> {
    let extra: Vec<PathBuf> = config.nlu.intents.iter().map(Into::into).collect();
    let mut grammar = Grammar::builtin()?;
    if !extra.is_empty() {
        grammar.merge(Grammar::load(&extra)?);
    }
    Recognizer::new(grammar)
}

/// The engine over the configured grammar, with the stages `options` ask for, the cloud tier
/// and routing mode of `[cloud]`. The language models (LLM, semantic tier) are not loaded here:
/// they take seconds, and a daemon loads them in the background
/// ([`load_language_models`]). Creating the engine needs no async runtime; starting turns
/// does.
pub fn build(
    config: &Config,
    models_dir: &Path,
    options: BuildOptions,
) -> Result<Assistant, BuildError> {
    let mut memory = vec![crate::engine::memory_at_start()];
    let recognizer = measure_memory(&mut memory, "grammar", || configured_recognizer(config))?;
    let engine_config = EngineConfig::from_config(config)?;
    if !recognizer.supports(&engine_config.language) {
        tracing::warn!(language = %engine_config.language, "no intent grammar for the configured language; using the first one loaded");
    }
    let (stages, listener) = speech_stages(config, models_dir, options, &mut memory);
    let missing = stages.missing();
    let engine = Engine::new(engine_config, recognizer, stages);
    engine.note_memory(memory);
    start_cloud(&engine, config);
    Ok(Assistant {
        engine,
        listener,
        missing,
    })
}

/// Loads the lite LLM and the semantic tier (with its index for the engine's language) into
/// `engine`, each when configured and installed; blocking, seconds. Without them the grammar
/// answers alone.
pub fn load_language_models(engine: &Engine, config: &Config, models_dir: &Path) {
    let mut memory = Vec::new();
    let llm = measure_memory(&mut memory, "llm", || {
        crate::llm::load_configured(config, models_dir)
    });
    if let Some(llm) = llm {
        engine.set_llm(Arc::new(llm), config.llm.max_waiting);
    }
    let tier = measure_memory(&mut memory, "semantic", || {
        let tier = crate::semantic::load_configured(config, models_dir)?;
        if let Err(e) = tier.index(engine.recognizer(), &engine.language()) {
            tracing::warn!("semantic index: {e}");
        }
        Some(tier)
    });
    if let Some(tier) = tier {
        engine.set_semantic(Arc::new(tier));
    }
    engine.note_memory(memory);
}

/// Sets the cloud tier (when `[cloud]` has a URL and its key can be read) and the routing mode
/// of `cloud.routing`.
pub fn start_cloud(engine: &Engine, config: &Config) {
    if let Some(client) = crate::llm::cloud::load_configured(&config.cloud) {
        engine.set_cloud(Arc::new(client), config.cloud.clone());
    }
    if let Err(e) = engine.set_routing_mode(&config.cloud.routing) {
        tracing::warn!("cloud.routing: {e}");
    }
}

/// The speech stages `options` ask for. Without ONNX Runtime only whisper (and espeak-ng)
/// work; each missing piece is logged and its calls answer `NotReady`.
fn speech_stages(
    config: &Config,
    models_dir: &Path,
    options: BuildOptions,
    memory: &mut Vec<StageMemory>,
) -> (Stages, Option<Arc<Listener>>) {
    let mut stages = Stages::text_only();
    stages.transcriber = if options.transcriber {
        measure_memory(memory, "speech_recognition", || {
            crate::speech::transcriber(config, models_dir)
        })
    } else {
        Stage::Missing(format!("speech recognition is {NOT_ASKED}"))
    };
    stages.speaker = if options.speaker {
        measure_memory(memory, "speech_output", || {
            crate::speech::speaker(config, models_dir)
        })
    } else {
        Stage::Missing(format!("speech output is {NOT_ASKED}"))
    };
    if matches!(options.audio_in, AudioIn::None) {
        return (stages, None);
    }
    if let Err(e) = crate::onnx::init(models_dir) {
        tracing::warn!("listening is not available: {e}");
        stages.capture = Stage::Missing(format!("listening is not available: {e}"));
        return (stages, None);
    }
    let source: Box<dyn AudioSource> = match options.audio_in {
        AudioIn::None => return (stages, None),
        AudioIn::Microphone => Box::new(crate::audio::Microphone::open(&config.audio.input_device)),
        AudioIn::Source(source) => source,
    };
    measure_memory(memory, "listening", || {
        crate::listen::add_listening(stages, config, models_dir, source)
    })
}
