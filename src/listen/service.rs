//! Wiring the listening front end into the engine: the `Capture` stage over a [`Listener`],
//! the wake-word loop, and [`add_listening`] that
//! builds them from the configuration (for [`crate::assistant::build`]).
//!
//! Nothing here fails the caller for a missing model or device: a stage that cannot be built
//! is `Stage::Missing(reason)` (the calls that need it answer `NotReady` with the reason), and
//! a microphone that is not there yet is retried in the background.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::listener::{ListenConfig, Listener};
use super::segmenter::SegmenterConfig;
use super::wakeword::{Detection, WakeWordDetector};
use crate::audio::AudioSource;
use crate::config::Config;
use crate::engine::{
    Audio, CancelToken, Capture, Engine, EngineError, Stage, StageError, Stages, TurnId,
};
use crate::models::Manifest;

/// The engine's `Capture` stage: one utterance from the shared [`Listener`].
pub struct MicCapture(pub Arc<Listener>);

impl Capture for MicCapture {
    fn capture_utterance(&self, cancel: &CancelToken) -> Result<Audio, StageError> {
        self.capture_with_partials(cancel, &mut |_| {})
    }

    fn capture_with_partials(
        &self,
        cancel: &CancelToken,
        partial: &mut dyn FnMut(&Audio),
    ) -> Result<Audio, StageError> {
        let samples = self
            .0
            .capture_utterance(&|| cancel.is_cancelled(), &mut |so_far| {
                partial(&Audio {
                    samples: so_far.to_vec(),
                })
            })
            .map_err(|e| StageError(e.to_string()))?;
        save_utterance(&samples);
        Ok(Audio { samples })
    }
}

/// With `$SKYLARK_SAVE_UTTERANCES` set to a folder, each captured utterance is written there as
/// a 16 kHz WAV: to hear what the recogniser got when a command is misunderstood.
fn save_utterance(samples: &[f32]) {
    let Some(dir) = std::env::var_os("SKYLARK_SAVE_UTTERANCES") else {
        return;
    };
    if samples.is_empty() {
        return;
    }
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path = Path::new(&dir).join(format!("utterance-{}-{n}.wav", std::process::id()));
    match crate::audio::write_wav(&path, samples, crate::audio::TARGET_SAMPLE_RATE) {
        Ok(()) => tracing::debug!(path = %path.display(), "utterance saved"),
        Err(e) => tracing::warn!("cannot save the utterance: {e}"),
    }
}

/// `stages` with listening added: the capture stage over a [`Listener`] that reads `source`
/// (the microphone, or audio an embedding app pushes), with VAD and the configured wake word;
/// also returns the listener (for the wake-word loop). ONNX Runtime must be initialised before.
/// Used by [`crate::assistant::build`].
pub fn add_listening(
    mut stages: Stages,
    config: &Config,
    models_dir: &Path,
    source: Box<dyn AudioSource>,
) -> (Stages, Option<Arc<Listener>>) {
    let manifest = match Manifest::builtin() {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("the built-in model manifest is unusable: {e}");
            return (stages, None);
        }
    };
    // VAD (Silero, or the energy fallback).
    let vad = match super::vad::detector_for(models_dir) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("voice activity detection is not available: {e}");
            stages.capture = Stage::Missing(format!("listening is not available: {e}"));
            return (stages, None);
        }
    };
    // Wake word.
    let wake = load_wake_word(config, &manifest, models_dir);
    if let Some(w) = &wake {
        stages.wake_word = Some(w.keywords().collect::<Vec<_>>().join(","));
    }
    let listen = listen_config(config);
    let listener = Arc::new(Listener::new(source, vad, wake, listen));
    stages.capture = Stage::Ready(Arc::new(MicCapture(listener.clone())));
    (stages, Some(listener))
}

/// `[vad]`, `[asr]`, `[wakeword]` → how the listener works.
pub fn listen_config(config: &Config) -> ListenConfig {
    let v = &config.vad;
    ListenConfig {
        segmenter: SegmenterConfig {
            threshold: v.threshold,
            neg_threshold: (v.threshold - 0.15).max(0.05),
            min_speech_ms: v.min_speech_ms,
            end_silence_ms: v.end_silence_ms,
            pre_roll_ms: v.pre_roll_ms,
            ..SegmenterConfig::default()
        },
        partial_interval_ms: config.asr.partial_interval_ms,
        start_timeout_ms: v.start_timeout_ms,
        max_utterance_ms: v.max_utterance_ms,
        barge_in: super::listener::BargeMode::parse(&config.tts.barge_in),
        barge_in_margin_db: config.tts.barge_in_margin_db,
        ..ListenConfig::default()
    }
}

fn load_wake_word(
    config: &Config,
    manifest: &Manifest,
    models_dir: &Path,
) -> Option<WakeWordDetector> {
    let features = manifest.model("wakeword-features")?;
    let mel = models_dir.join(&features.files.first()?.path);
    let emb = models_dir.join(&features.files.get(1)?.path);
    let mut keywords = Vec::new();
    for id in &config.wakeword.keywords {
        match manifest.primary_path(models_dir, id) {
            Ok(path) => {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| id.clone());
                keywords.push((name, path, config.wakeword.threshold));
            }
            Err(e) => tracing::warn!("wake word {id}: {e}"),
        }
    }
    if keywords.is_empty() {
        return None;
    }
    match WakeWordDetector::load(&mel, &emb, &keywords) {
        Ok(mut w) => {
            w.set_refractory_ms(config.wakeword.refractory_ms);
            Some(w)
        }
        Err(e) => {
            tracing::warn!("wake-word detection is not available: {e}");
            None
        }
    }
}

/// The wake-word loop: while `WakeWordEnabled` is on and no turn runs, listen for the keyword;
/// on a detection start a listening turn. While the assistant speaks, watch for barge-in
/// (`tts.barge_in`: the wake word, or voice beyond the assistant's echo) and interrupt it
/// ([`Engine::barge_in`]). On its own thread.
pub struct WakeLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WakeLoop {
    /// Must be called inside the Tokio runtime that runs the engine's turns.
    pub fn spawn(engine: Engine, listener: Arc<Listener>) -> WakeLoop {
        WakeLoop::spawn_with(engine, listener, Box::new(|_, _| {}))
    }

    /// As [`WakeLoop::spawn`], and `on_wake` is told, on the loop's thread, of each detection
    /// and the turn it started (or why none started) before the loop waits for that turn: an
    /// embedding app (Android) hands the turn's events to its own listener. `on_wake` is
    /// dropped when the loop ends.
    pub fn spawn_with(engine: Engine, listener: Arc<Listener>, on_wake: OnWake) -> WakeLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let runtime = tokio::runtime::Handle::try_current();
        let thread = std::thread::Builder::new()
            .name("skylark-wake".into())
            .spawn(move || {
                let Ok(runtime) = runtime else {
                    tracing::error!(
                        "the wake-word loop needs the engine's async runtime; wake word off"
                    );
                    return;
                };
                let _entered = runtime.enter();
                wake_loop(&engine, &listener, &flag, &*on_wake)
            })
            .map_err(|e| tracing::error!("cannot start the wake-word thread: {e}"))
            .ok();
        WakeLoop { stop, thread }
    }
}

impl Drop for WakeLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// See [`WakeLoop::spawn_with`].
pub type OnWake = Box<dyn Fn(&Detection, Result<TurnId, &EngineError>) + Send>;

fn wake_loop(
    engine: &Engine,
    listener: &Listener,
    stop: &AtomicBool,
    on_wake: &(dyn Fn(&Detection, Result<TurnId, &EngineError>) + Send),
) {
    use crate::engine::State;
    let idle = || engine.wake_word_enabled() && engine.state() == State::Idle;
    let speaking = || engine.state() == State::Speaking;
    let barge_mode = listener.config().barge_in;
    let mut mic_error_logged = false;
    fn mic_error(logged: &mut bool, e: &dyn std::fmt::Display) {
        if !*logged {
            tracing::warn!("wake-word listening paused: {e}");
            *logged = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    while !stop.load(Ordering::SeqCst) {
        // While the assistant speaks: barge-in (`tts.barge_in`). The wake word barges in only
        // while `WakeWordEnabled` is on; voice whenever it is configured.
        if speaking() && barge_mode != super::BargeMode::Off {
            let keep_going = || !stop.load(Ordering::SeqCst) && speaking();
            match listener.watch_for_barge_in(&keep_going, engine.wake_word_enabled()) {
                Ok(Some(barge)) => {
                    mic_error_logged = false;
                    match barge {
                        super::BargeIn::WakeWord(d) => {
                            let started = engine.barge_in(Some((&d.keyword, f64::from(d.score))));
                            on_wake(&d, started.as_ref().map(|t| *t));
                            if let Err(e) = started {
                                tracing::warn!("barge-in, but no turn started: {e}");
                            }
                        }
                        super::BargeIn::Voice { onset_ms } => {
                            tracing::debug!(onset_ms, "voice barge-in");
                            if let Err(e) = engine.barge_in(None) {
                                tracing::warn!("barge-in, but no turn started: {e}");
                            }
                        }
                    }
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => mic_error(&mut mic_error_logged, &e),
            }
            continue;
        }
        if !idle() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match listener.wait_for_wake_word(&|| !stop.load(Ordering::SeqCst) && idle()) {
            Ok(Some(d)) => {
                mic_error_logged = false;
                let started = engine.wake_word_detected(&d.keyword, f64::from(d.score));
                on_wake(&d, started.as_ref().map(|t| *t));
                // The turn listens, thinks and speaks; the loop watches for barge-in while it
                // speaks and waits for the keyword again once all is idle.
                if let Err(e) = started {
                    tracing::warn!("wake word heard but no turn started: {e}");
                }
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => mic_error(&mut mic_error_logged, &e),
        }
    }
}
