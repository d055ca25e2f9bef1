//! What a Java `Assistant` holds: the engine built by `skylark::assistant::build`, the async
//! runtime its turns run on, the pushing side of the audio the app feeds, and the voices for
//! `synthesize`. Nothing here knows JNI types except the event bridge it hands to turns.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use skylark::assistant::{AudioIn, BuildOptions};
use skylark::audio::AudioPusher;
use skylark::config::Config;
use skylark::engine::{AskOptions, CancelToken, Engine, Recognition, TurnId};
use skylark::listen::{Listener, WakeLoop};
use skylark::nlu::Language;
use skylark::speech::VoiceSpeaker;

use crate::events::{self, Bridge, WakeListener, Woken};
use crate::policy::BindingError;

/// How long running turns get to end when the app closes the assistant.
const CLOSE_GRACE: Duration = Duration::from_millis(1000);

/// Separates the fields of a recognition result passed to Java as one string (one JNI string
/// instead of an object graph keeps a `recognize` call cheap). Never in a field: replaced by a
/// space there.
pub const FIELD_SEPARATOR: char = '\u{1f}';

pub struct Handle {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    pusher: AudioPusher,
    /// The listening front end over the fed audio (VAD, wake word), when it could load.
    listener: Option<Arc<Listener>>,
    /// The engine's wake-word loop over the fed audio, started when the wake word is first
    /// turned on.
    wake_loop: Mutex<Option<WakeLoop>>,
    wake_listener: WakeListener,
    voices: Result<VoiceSpeaker, String>,
    missing: Vec<String>,
}

/// `config` is TOML text, or the path of a TOML file; empty: the defaults.
fn load_config(config: &str, models_dir: &str) -> Result<Config, BindingError> {
    let trimmed = config.trim();
    let mut config =
        if !trimmed.is_empty() && !trimmed.contains('\n') && Path::new(trimmed).is_file() {
            skylark::config::load(Some(Path::new(trimmed)))
                .map_err(|e| BindingError::Skylark(e.to_string()))?
                .config
        } else {
            Config::parse(config, Path::new("(the TOML passed to Assistant.create)"))
                .map_err(|e| BindingError::Skylark(e.to_string()))?
        };
    config.models.dir = models_dir.to_string();
    Ok(config)
}

impl Handle {
    /// Builds the assistant (grammar, whisper, VAD and wake word over the fed audio, the LLM
    /// and semantic tier when installed, the voices). Blocking: seconds with every model.
    pub fn create(config: &str, models_dir: &str) -> Result<Handle, BindingError> {
        let config = load_config(config, models_dir)?;
        static LOGGING: Once = Once::new();
        LOGGING.call_once(|| skylark::logging::init(&config.log.level, &config.log.format));
        let models_dir = PathBuf::from(models_dir);
        if !models_dir.is_dir() {
            return Err(BindingError::Skylark(format!(
                "the models folder {} does not exist; install the models there first",
                models_dir.display()
            )));
        }
        let (source, pusher) = skylark::audio::push_source();
        let options = BuildOptions {
            transcriber: true,
            // The app plays audio itself (`synthesize` → `AudioTrack`).
            speaker: false,
            audio_in: AudioIn::Source(Box::new(source)),
        };
        let assistant = skylark::assistant::build(&config, &models_dir, options)
            .map_err(|e| BindingError::Skylark(e.to_string()))?;
        skylark::assistant::load_language_models(&assistant.engine, &config, &models_dir);
        let voices = VoiceSpeaker::load_voices(&config, &models_dir);
        // No speaker was asked for: the app plays `synthesize`'s audio.
        let mut missing: Vec<String> = assistant
            .missing
            .into_iter()
            .filter(|why| !why.starts_with("speech output is not loaded"))
            .collect();
        if let Err(why) = &voices {
            missing.push(format!("speech synthesis is not available: {why}"));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("skylark-turns")
            .enable_all()
            .build()
            .map_err(|e| BindingError::Skylark(format!("cannot start the async runtime: {e}")))?;
        Ok(Handle {
            runtime,
            engine: assistant.engine,
            pusher,
            listener: assistant.listener,
            wake_loop: Mutex::new(None),
            wake_listener: Arc::new(Mutex::new(None)),
            voices,
            missing,
        })
    }

    /// Cancels the running turns (their listeners get `onFinished("cancelled")`), waits for
    /// them up to a second, then stops the runtime.
    pub fn close(self) {
        let Handle {
            runtime,
            engine,
            wake_loop,
            ..
        } = self;
        // Stops the wake-word loop first (it joins its thread): no turn starts while closing.
        drop(wake_loop.into_inner().unwrap_or_else(|e| e.into_inner()));
        runtime.block_on(engine.shutdown(CLOSE_GRACE));
        drop(engine);
        runtime.shutdown_timeout(Duration::from_millis(300));
    }

    pub fn missing(&self) -> &[String] {
        &self.missing
    }

    /// Text → intent, encoded for Java (see [`encode`]).
    pub fn recognize(&self, text: &str, language: Option<&str>) -> Result<String, BindingError> {
        Ok(encode(&self.engine.recognize(text, language)?))
    }

    /// Starts a whole turn; its events go to `bridge` on a thread of their own.
    pub fn ask(
        &self,
        text: &str,
        language: Option<&str>,
        bridge: Bridge,
    ) -> Result<i64, BindingError> {
        let _runtime = self.runtime.enter();
        // Subscribed before the turn starts: none of its events can be missed.
        let receiver = self.engine.subscribe();
        let options = AskOptions {
            language: language.map(str::to_string),
            speak: Some(false),
        };
        let turn = self.engine.ask(text, options, std::future::ready(()))?;
        events::forward(receiver, turn, bridge)?;
        Ok(turn.0 as i64)
    }

    /// Push-to-talk over the fed audio: what the app feeds from now on is listened to until
    /// the end of speech, then handled as `ask`.
    pub fn start_listening(
        &self,
        language: Option<&str>,
        bridge: Bridge,
    ) -> Result<i64, BindingError> {
        let _runtime = self.runtime.enter();
        self.pusher.clear();
        let receiver = self.engine.subscribe();
        let turn = self.engine.start_listening(language)?;
        events::forward(receiver, turn, bridge)?;
        Ok(turn.0 as i64)
    }

    /// Turns the wake word on or off. On: the audio fed from now on is listened to for the
    /// wake word; each detection starts a listening turn (the command after it), whose events
    /// go to the wake listener. Starts the engine's wake-word loop the first time.
    pub fn set_wake_word_enabled(&self, enabled: bool) -> Result<(), BindingError> {
        self.engine.set_wake_word_enabled(enabled)?;
        if !enabled {
            return Ok(());
        }
        let mut wake_loop = self.wake_loop.lock().unwrap_or_else(|e| e.into_inner());
        if wake_loop.is_some() {
            return Ok(());
        }
        let Some(listener) = self.listener.clone() else {
            let _ = self.engine.set_wake_word_enabled(false);
            return Err(BindingError::Skylark(
                "wake-word detection is not available: listening could not load (see missingStages)"
                    .into(),
            ));
        };
        let _runtime = self.runtime.enter();
        // Subscribed before the loop starts: no event of a wake-word turn can be missed.
        let receiver = self.engine.subscribe();
        let (woken, woken_rx) = std::sync::mpsc::channel::<Woken>();
        events::forward_wake_turns(receiver, woken_rx, self.wake_listener.clone())?;
        let on_wake = Box::new(
            move |d: &skylark::listen::Detection,
                  started: Result<TurnId, &skylark::engine::EngineError>| {
                if let Ok(turn) = started {
                    let _ = woken.send(Woken {
                        keyword: d.keyword.clone(),
                        score: d.score,
                        turn,
                    });
                }
            },
        );
        *wake_loop = Some(WakeLoop::spawn_with(self.engine.clone(), listener, on_wake));
        Ok(())
    }

    /// Where the turns the wake word starts are delivered; `None`: nowhere (they still run).
    pub fn set_wake_listener(&self, bridge: Option<Bridge>) {
        *self.wake_listener.lock().unwrap_or_else(|e| e.into_inner()) = bridge.map(Arc::new);
    }

    pub fn feed_audio(&self, pcm: &[i16], sample_rate: u32) -> Result<(), BindingError> {
        self.pusher
            .push(pcm, sample_rate)
            .map_err(|e| BindingError::Skylark(e.to_string()))
    }

    /// `text` spoken as 16-bit mono PCM and its sample rate.
    pub fn synthesize(
        &self,
        text: &str,
        language: Option<&str>,
    ) -> Result<(Vec<i16>, u32), BindingError> {
        let voices = self.voices.as_ref().map_err(|why| {
            BindingError::Skylark(format!("speech synthesis is not available: {why}"))
        })?;
        if text.trim().is_empty() {
            return Err(BindingError::Skylark(
                "nothing to say: the text is empty".into(),
            ));
        }
        let language = match language.filter(|l| !l.trim().is_empty()) {
            Some(tag) => Language::parse(tag).map_err(|e| BindingError::Skylark(e.to_string()))?,
            None => self.engine.language(),
        };
        let (samples, rate) = voices
            .synthesize(text, &language, &CancelToken::new())
            .map_err(|e| BindingError::Skylark(e.to_string()))?;
        let pcm = samples
            .iter()
            .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .collect();
        Ok((pcm, rate))
    }

    pub fn set_list(&self, name: &str, entries: Vec<(String, String)>) -> Result<(), BindingError> {
        Ok(self.engine.set_list(name, entries)?)
    }

    pub fn cancel(&self, turn: i64) -> Result<(), BindingError> {
        let turn = u64::try_from(turn)
            .map_err(|_| BindingError::Skylark(format!("turn {turn} does not exist")))?;
        Ok(self.engine.cancel(TurnId(turn))?)
    }
}

/// `intent␟source␟confidence[␟slot␟value]…` (␟ = [`FIELD_SEPARATOR`]); `io.skylark.IntentResult`
/// decodes it.
pub fn encode(r: &Recognition) -> String {
    let clean = |s: &str| s.replace(FIELD_SEPARATOR, " ");
    let mut out = format!(
        "{}{FIELD_SEPARATOR}{}{FIELD_SEPARATOR}{}",
        clean(&r.intent),
        r.source.as_str(),
        r.confidence
    );
    for (k, v) in &r.slots {
        out.push(FIELD_SEPARATOR);
        out.push_str(&clean(k));
        out.push(FIELD_SEPARATOR);
        out.push_str(&clean(&v.to_string()));
    }
    out
}
