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
    LanguageModels::load(config, models_dir).install(engine, config);
}

/// The lite LLM and the semantic tier, loaded without an engine, so that they can load while
/// the speech stages do (the daemon: [`LanguageModels::spawn`]), then handed to one
/// ([`LanguageModels::install`]).
pub struct LanguageModels {
    llm: Option<crate::llm::LiteLlm>,
    semantic: Option<crate::semantic::SemanticTier>,
    memory: Vec<StageMemory>,
}

/// Language models loading on a thread of their own ([`LanguageModels::spawn`]).
pub struct LanguageModelsLoading(Loading);

enum Loading {
    Thread(std::thread::JoinHandle<LanguageModels>),
    /// No thread could be started: loaded on the caller's.
    Done(Box<LanguageModels>),
}

impl LanguageModelsLoading {
    /// Waits for the loads. A loader that panicked (it should not) leaves both models out,
    /// as a missing model would: the grammar answers alone.
    pub fn join(self) -> LanguageModels {
        match self.0 {
            Loading::Done(models) => *models,
            Loading::Thread(handle) => handle.join().unwrap_or_else(|_| {
                tracing::error!("loading the language models failed; the grammar answers alone");
                LanguageModels {
                    llm: None,
                    semantic: None,
                    memory: Vec::new(),
                }
            }),
        }
    }
}

impl LanguageModels {
    /// Loads both, each configured and installed one, at the same time (they share nothing;
    /// creating an ONNX Runtime session is mostly one thread's work, so on two cores the two
    /// take about as long as the LLM alone); blocking.
    pub fn load(config: &Config, models_dir: &Path) -> LanguageModels {
        std::thread::scope(|scope| {
            let llm = std::thread::Builder::new()
                .name("skylark-load-llm".into())
                .spawn_scoped(scope, || {
                    let mut memory = Vec::new();
                    let llm = measure_memory(&mut memory, "llm", || {
                        crate::llm::load_configured(config, models_dir)
                    });
                    (llm, memory)
                });
            let mut memory = Vec::new();
            let semantic = measure_memory(&mut memory, "semantic", || {
                crate::semantic::load_configured(config, models_dir)
            });
            let (llm, llm_memory) = match llm {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    tracing::error!("loading the lite LLM failed; the grammar answers alone");
                    (None, Vec::new())
                }),
                // No thread to spare: load it here, after the semantic tier.
                Err(_) => {
                    let mut memory = Vec::new();
                    let llm = measure_memory(&mut memory, "llm", || {
                        crate::llm::load_configured(config, models_dir)
                    });
                    (llm, memory)
                }
            };
            memory.splice(0..0, llm_memory);
            LanguageModels {
                llm,
                semantic,
                memory,
            }
        })
    }

    /// [`LanguageModels::load`] on a thread of its own, started now.
    pub fn spawn(config: &Config, models_dir: &Path) -> LanguageModelsLoading {
        let (config, models_dir) = (config.clone(), models_dir.to_path_buf());
        let load = move || LanguageModels::load(&config, &models_dir);
        match std::thread::Builder::new()
            .name("skylark-load-models".into())
            .spawn(load.clone())
        {
            Ok(handle) => LanguageModelsLoading(Loading::Thread(handle)),
            Err(e) => {
                tracing::warn!(
                    "cannot start a thread to load the language models ({e}); loading them now"
                );
                LanguageModelsLoading(Loading::Done(Box::new(load())))
            }
        }
    }

    /// Hands the models to `engine`; the semantic tier first builds its index for the
    /// engine's language (from its cache file when the grammar is unchanged), so the first
    /// request does not wait for it.
    pub fn install(self, engine: &Engine, config: &Config) {
        if let Some(llm) = self.llm {
            engine.set_llm(Arc::new(llm), config.llm.max_waiting);
        }
        if let Some(tier) = self.semantic {
            if let Err(e) = tier.index(engine.recognizer(), &engine.language()) {
                tracing::warn!("semantic index: {e}");
            }
            engine.set_semantic(Arc::new(tier));
        }
        engine.note_memory(self.memory);
    }
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
