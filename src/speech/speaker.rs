//! [`VoiceSpeaker`]: the engine's speech-output stage. English is spoken by the Piper voice
//! (`tts.voice_en`), Mandarin by the Kokoro voice (`tts.voice_zh`, loaded when Mandarin is
//! first spoken, or at start when it is the configured language) with espeak-ng
//! (`tts.espeak_voice_zh`, run as a separate process) as the fallback when the Kokoro files are
//! missing or it fails; all played on the default output device.
//!
//! Output is streamed in pieces (`tts::text::pieces`: a sentence's first clause, then the rest
//! of it): each plays as soon as it is synthesised while the next is computed, so the first
//! words come after one clause's synthesis, not the whole text's. An answer streamed by a
//! model is spoken from its first complete clause (`speak_stream`, `tts::text::TextStream`). Cancel (barge-in, `Cancel`, shutdown) stops playback at once — the playing loop
//! checks it every 10 ms, also while a sentence is still being synthesised.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::espeak::EspeakVoice;
use crate::audio::playback::{self, Output};
use crate::config::Config;
use crate::engine::{CancelToken, Speaker, StageError};
use crate::models::Manifest;
use crate::nlu::Language;
use crate::tts::kokoro::KokoroVoice;
use crate::tts::text::{pieces, TextStream};
use crate::tts::PiperVoice;

pub struct VoiceSpeaker {
    piper: Result<Mutex<PiperVoice>, String>,
    /// The Kokoro files (checked at start), and the voice once loaded.
    kokoro_files: Result<KokoroFiles, String>,
    kokoro: OnceLock<Result<Mutex<KokoroVoice>, String>>,
    espeak: Result<EspeakVoice, String>,
    /// `tts.volume`, then the `Volume` property (an `f32`'s bits; the player follows it).
    volume: Arc<AtomicU32>,
}

/// What one utterance cost, for the log (and the report's real-time factor).
struct Spoken {
    audio: Duration,
    synthesis: Duration,
    first_sound: Option<Duration>,
}

impl VoiceSpeaker {
    /// Checks the output device and loads the voices. `Err` (with the reasons) when nothing
    /// can be spoken: no device, or no voice at all.
    pub fn load(config: &Config, models_dir: &Path) -> Result<VoiceSpeaker, String> {
        let device = playback::probe().map_err(|e| e.to_string())?;
        tracing::info!(%device, "audio output");
        Self::load_voices(config, models_dir)
    }

    /// The voices alone, without an output device: for an app that plays the audio itself
    /// ([`VoiceSpeaker::synthesize`]; Android's `AudioTrack`). `Err` when there is no voice.
    pub fn load_voices(config: &Config, models_dir: &Path) -> Result<VoiceSpeaker, String> {
        let piper = load_piper(config, models_dir);
        let kokoro_files = KokoroFiles::find(config, models_dir);
        let espeak = EspeakVoice::check("espeak-ng", &config.tts.espeak_voice_zh);
        match (&piper, &kokoro_files, &espeak) {
            (Err(en), Err(kokoro), Err(zh)) => Err(format!("no voice: {en}; {kokoro}; {zh}")),
            _ => {
                if let Err(why) = &piper {
                    tracing::warn!("English speech output is not available: {why}");
                }
                if let Err(why) = &kokoro_files {
                    tracing::warn!("the Kokoro Mandarin voice is not available (espeak-ng speaks Mandarin): {why}");
                }
                if let Err(why) = &espeak {
                    tracing::warn!("espeak-ng is not available for Mandarin: {why}");
                }
                let speaker = VoiceSpeaker {
                    piper,
                    kokoro_files,
                    kokoro: OnceLock::new(),
                    espeak,
                    volume: Arc::new(AtomicU32::new(config.tts.volume.to_bits())),
                };
                if Language::parse(&config.language).is_ok_and(|l| l.primary() == "zh") {
                    speaker.kokoro();
                }
                Ok(speaker)
            }
        }
    }

    /// The Kokoro voice, loaded on first use; `None` when its files are missing or it failed
    /// to load (espeak-ng then speaks).
    fn kokoro(&self) -> Option<&Mutex<KokoroVoice>> {
        let files = self.kokoro_files.as_ref().ok()?;
        self.kokoro
            .get_or_init(|| {
                let loaded = files.load();
                if let Err(why) = &loaded {
                    tracing::warn!("the Kokoro Mandarin voice failed to load; espeak-ng speaks Mandarin: {why}");
                }
                loaded
            })
            .as_ref()
            .ok()
    }

    /// Speaks text as it arrives: complete clauses ([`TextStream`]) are cut into pieces
    /// ([`pieces`]), each synthesised on this scope's producer thread and sent to the player,
    /// which starts on the first piece while the rest is synthesised. Cancel stops both: the
    /// player within 10 ms, the producer before its next piece (a running espeak-ng is
    /// killed).
    fn speak_pieces(
        &self,
        text: &mut (dyn Iterator<Item = String> + Send),
        voice: Voice<'_>,
        out: Output,
        cancel: &CancelToken,
        first_audio: &(dyn Fn() + Sync),
    ) -> Result<Spoken, StageError> {
        let (tx, rx) = mpsc::sync_channel::<(Vec<f32>, u32)>(2);
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || {
                let mut producer = Producer {
                    voice,
                    tx,
                    cancel,
                    started: Instant::now(),
                    audio: Duration::ZERO,
                    first_sound: None,
                    first_audio,
                    after_sentence: false,
                };
                let mut stream = TextStream::new();
                let mut result = Ok(());
                for chunk in &mut *text {
                    let ready = stream.push(&chunk);
                    match producer.say(&ready) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                if result.is_ok() && !cancel.is_cancelled() {
                    result = producer.say(&stream.finish()).map(|_| ());
                }
                // Whatever the model still streams is not spoken; drain it so its sender
                // never blocks on us.
                for _ in &mut *text {}
                let spoken = Spoken {
                    audio: producer.audio,
                    synthesis: producer.started.elapsed(),
                    first_sound: producer.first_sound,
                };
                // `producer.tx` is dropped here: the player plays what it has, then returns.
                (result, spoken)
            });
            out.play_stream(rx, || cancel.is_cancelled());
            let (result, spoken) = producer.join().unwrap_or_else(|_| {
                (
                    Err(StageError("speech synthesis stopped unexpectedly".into())),
                    Spoken {
                        audio: Duration::ZERO,
                        synthesis: Duration::ZERO,
                        first_sound: None,
                    },
                )
            });
            result.map(|()| spoken)
        })
    }

    /// `text` as mono samples in [-1, 1] and their rate, in the voice of `language` (Piper
    /// for English, espeak-ng for Mandarin), sentences separated by the usual pause. Blocking;
    /// `cancel` stops it between pieces (empty audio so far is returned).
    pub fn synthesize(
        &self,
        text: &str,
        language: &Language,
        cancel: &CancelToken,
    ) -> Result<(Vec<f32>, u32), StageError> {
        self.available(language).map_err(StageError)?;
        match self.voice(language)? {
            Voice::Piper(voice) => {
                let mut voice = voice.lock().map_err(|_| {
                    StageError("the Piper voice is unusable after an earlier failure".into())
                })?;
                if cancel.is_cancelled() {
                    return Ok((Vec::new(), voice.sample_rate()));
                }
                let audio = voice
                    .synthesize(text)
                    .map_err(|e| StageError(e.to_string()))?;
                Ok((audio.samples, audio.sample_rate))
            }
            Voice::Kokoro(voice, espeak) => {
                let kokoro = voice
                    .lock()
                    .map_err(|_| "the Kokoro voice is unusable after an earlier failure".into())
                    .and_then(|mut v| {
                        if cancel.is_cancelled() {
                            return Ok(Default::default());
                        }
                        v.synthesize(text).map_err(|e| e.to_string())
                    });
                match (kokoro, espeak) {
                    (Ok(audio), _) => Ok((audio.samples, crate::tts::kokoro::SAMPLE_RATE)),
                    (Err(why), Some(espeak)) => {
                        tracing::warn!("the Kokoro voice failed ({why}); espeak-ng speaks instead");
                        espeak_all(espeak, text, cancel)
                    }
                    (Err(why), None) => Err(StageError(why)),
                }
            }
            Voice::Espeak(voice) => espeak_all(voice, text, cancel),
        }
    }

    fn voice(&self, language: &Language) -> Result<Voice<'_>, StageError> {
        if language.primary() == "zh" {
            if let Some(kokoro) = self.kokoro() {
                return Ok(Voice::Kokoro(kokoro, self.espeak.as_ref().ok()));
            }
            match &self.espeak {
                Ok(v) => Ok(Voice::Espeak(v)),
                Err(why) => Err(StageError(why.clone())),
            }
        } else {
            match &self.piper {
                Ok(v) => Ok(Voice::Piper(v)),
                Err(why) => Err(StageError(why.clone())),
            }
        }
    }
}

/// `text` spoken by espeak-ng piece by piece, with the sentence pause; stops when cancelled.
fn espeak_all(
    voice: &EspeakVoice,
    text: &str,
    cancel: &CancelToken,
) -> Result<(Vec<f32>, u32), StageError> {
    let mut all = Vec::new();
    let mut rate = 22_050;
    for piece in pieces(text) {
        let stop = || cancel.is_cancelled();
        let (samples, r) = voice.synthesize(&piece.text(), &stop).map_err(StageError)?;
        if cancel.is_cancelled() {
            break;
        }
        rate = r;
        all.extend(samples);
        if piece.ends_sentence {
            all.extend(std::iter::repeat_n(
                0.0,
                (SENTENCE_PAUSE_SECS * r as f32) as usize,
            ));
        }
    }
    Ok((all, rate))
}

/// The voice a text is spoken with.
#[derive(Clone, Copy)]
enum Voice<'a> {
    Piper(&'a Mutex<PiperVoice>),
    /// Kokoro, with espeak-ng (when it runs) for the text Kokoro fails on.
    Kokoro(&'a Mutex<KokoroVoice>, Option<&'a EspeakVoice>),
    Espeak(&'a EspeakVoice),
}

/// The synthesising side of [`VoiceSpeaker::speak_pieces`].
struct Producer<'a> {
    voice: Voice<'a>,
    tx: mpsc::SyncSender<(Vec<f32>, u32)>,
    cancel: &'a CancelToken,
    started: Instant,
    audio: Duration,
    first_sound: Option<Duration>,
    /// Told when the first audio goes to the player (the turn's trace).
    first_audio: &'a (dyn Fn() + Sync),
    /// Whether the last piece sent ended a sentence (the next one starts after a pause).
    after_sentence: bool,
}

impl Producer<'_> {
    /// Synthesises `text` (complete clauses) piece by piece and sends the audio. `Ok(false)`
    /// when it should stop: cancelled, or the player is gone.
    fn say(&mut self, text: &str) -> Result<bool, StageError> {
        if text.trim().is_empty() {
            return Ok(!self.cancel.is_cancelled());
        }
        let mut going = true;
        match self.voice {
            Voice::Piper(voice) => {
                let mut voice = voice.lock().map_err(|_| {
                    StageError("the Piper voice is unusable after an earlier failure".into())
                })?;
                let pause = voice.sentence_pause_secs;
                voice
                    .synthesize_each(text, |a, ends_sentence| {
                        going = self.send(a.samples, a.sample_rate, pause, ends_sentence);
                        going
                    })
                    .map_err(|e| StageError(e.to_string()))?;
            }
            Voice::Kokoro(voice, espeak) => {
                let mut sent = false;
                let result = match voice.lock() {
                    Ok(mut voice) => {
                        let pause = voice.sentence_pause_secs;
                        voice
                            .synthesize_each(text, |a, ends_sentence| {
                                sent = true;
                                going = self.send(a.samples, a.sample_rate, pause, ends_sentence);
                                going
                            })
                            .map_err(|e| e.to_string())
                    }
                    Err(_) => Err("the Kokoro voice is unusable after an earlier failure".into()),
                };
                match (result, espeak) {
                    (Ok(()), _) => {}
                    // Kokoro failed before it said anything of this text: espeak-ng says it.
                    // (Once part of it is spoken, repeating it would be worse than stopping.)
                    (Err(why), Some(espeak)) if !sent => {
                        tracing::warn!("the Kokoro voice failed ({why}); espeak-ng speaks instead");
                        return self.say_espeak(espeak, text);
                    }
                    (Err(why), _) => return Err(StageError(why)),
                }
            }
            Voice::Espeak(voice) => return self.say_espeak(voice, text),
        }
        Ok(going)
    }

    /// `text` spoken by espeak-ng, piece by piece.
    fn say_espeak(&mut self, voice: &EspeakVoice, text: &str) -> Result<bool, StageError> {
        for piece in pieces(text) {
            let stop = || self.cancel.is_cancelled();
            let (samples, rate) = voice.synthesize(&piece.text(), &stop).map_err(StageError)?;
            if !self.send(samples, rate, SENTENCE_PAUSE_SECS, piece.ends_sentence) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sends one piece's audio, after the sentence pause when the previous piece ended a
    /// sentence. `false` when it should stop.
    fn send(&mut self, samples: Vec<f32>, rate: u32, pause_secs: f32, ends_sentence: bool) -> bool {
        if self.cancel.is_cancelled() {
            return false;
        }
        if samples.is_empty() {
            return true;
        }
        let rate = rate.max(1);
        if self.after_sentence && self.first_sound.is_some() {
            let pause = Duration::from_secs_f32(pause_secs.max(0.0));
            let gap = (pause.as_secs_f32() * rate as f32) as usize;
            self.audio += pause;
            if self.tx.send((vec![0.0; gap], rate)).is_err() {
                return false;
            }
        }
        if self.first_sound.is_none() {
            self.first_sound = Some(self.started.elapsed());
            (self.first_audio)();
        }
        self.audio += Duration::from_secs_f64(samples.len() as f64 / f64::from(rate));
        self.after_sentence = ends_sentence;
        self.tx.send((samples, rate)).is_ok()
    }
}

/// Pause between sentences of espeak-ng (Piper voices say their own).
const SENTENCE_PAUSE_SECS: f32 = 0.2;

fn load_piper(config: &Config, models_dir: &Path) -> Result<Mutex<PiperVoice>, String> {
    let path = piper_path(&config.tts.voice_en, models_dir).map_err(|e| e.to_string())?;
    if !path.is_file() {
        return Err(format!(
            "Piper voice not found at {}. Fix: run `skylark models fetch`",
            path.display()
        ));
    }
    crate::onnx::init(models_dir).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut voice = PiperVoice::load(&path).map_err(|e| e.to_string())?;
    // ONNX Runtime's first run of a session allocates and plans; done here, at start, it does
    // not delay the first thing the assistant says.
    voice.synthesize("Ready.").map_err(|e| e.to_string())?;
    tracing::info!(voice = %path.display(), ms = t.elapsed().as_millis() as u64, "Piper voice loaded");
    Ok(Mutex::new(voice))
}

/// The Piper voice `tts.voice_en` names: a manifest id, or a `.onnx` file (with its
/// `.onnx.json` beside it) by path, absolute or relative to the models folder.
pub fn piper_path(voice: &str, models_dir: &Path) -> Result<PathBuf, crate::models::ManifestError> {
    if voice.ends_with(".onnx") {
        return Ok(models_dir.join(voice));
    }
    Manifest::builtin()?.primary_path(models_dir, voice)
}

/// Where the Kokoro Mandarin voice's files are (`tts.voice_zh`, `tts.voice_zh_pack`).
struct KokoroFiles {
    model: PathBuf,
    vocab: PathBuf,
    pack: PathBuf,
    models_dir: PathBuf,
}

impl KokoroFiles {
    /// The files of the configured voice, all present; `Err` says which is missing and the
    /// command that installs it.
    fn find(config: &Config, models_dir: &Path) -> Result<KokoroFiles, String> {
        let id = &config.tts.voice_zh;
        if id.is_empty() {
            return Err("`tts.voice_zh` is \"\" (off)".into());
        }
        let manifest = Manifest::builtin().map_err(|e| e.to_string())?;
        let model = manifest
            .model(id)
            .ok_or_else(|| format!("`tts.voice_zh`: no model `{id}` in the manifest"))?;
        let file = |suffix: &str| {
            model
                .files
                .iter()
                .find(|f| f.path.ends_with(suffix))
                .map(|f| models_dir.join(&f.path))
                .ok_or_else(|| format!("model `{id}` has no `*{suffix}` file"))
        };
        let pack = match config.tts.voice_zh_pack.as_str() {
            "" => file(".bin")?,
            p => models_dir.join(p),
        };
        let files = KokoroFiles {
            model: file(".onnx")?,
            vocab: file("vocab.json")?,
            pack,
            models_dir: models_dir.to_path_buf(),
        };
        for path in [&files.model, &files.vocab, &files.pack] {
            if !path.is_file() {
                return Err(format!(
                    "{} is missing. Fix: run `skylark models fetch {id}`",
                    path.display()
                ));
            }
        }
        Ok(files)
    }

    fn load(&self) -> Result<Mutex<KokoroVoice>, String> {
        crate::onnx::init(&self.models_dir).map_err(|e| e.to_string())?;
        let t = Instant::now();
        crate::tts::zh_g2p::warm();
        let mut voice =
            KokoroVoice::load(&self.model, &self.vocab, &self.pack).map_err(|e| e.to_string())?;
        // The first run of a session allocates and plans; done here, not on the first answer.
        voice.synthesize("好。").map_err(|e| e.to_string())?;
        tracing::info!(voice = %self.pack.display(), ms = t.elapsed().as_millis() as u64, "Kokoro voice loaded");
        Ok(Mutex::new(voice))
    }
}

impl Speaker for VoiceSpeaker {
    fn speak(
        &self,
        text: &str,
        language: &Language,
        cancel: &CancelToken,
    ) -> Result<(), StageError> {
        self.speak_stream(
            &mut std::iter::once(text.to_string()),
            language,
            cancel,
            &|| {},
        )
    }

    fn speak_stream(
        &self,
        text: &mut (dyn Iterator<Item = String> + Send),
        language: &Language,
        cancel: &CancelToken,
        first_audio: &(dyn Fn() + Sync),
    ) -> Result<(), StageError> {
        self.available(language).map_err(StageError)?;
        if cancel.is_cancelled() {
            return Ok(());
        }
        let voice = self.voice(language)?;
        let mut out = Output::open().map_err(|e| StageError(e.to_string()))?;
        out.follow_volume(self.volume.clone());
        let device = out.device().to_string();
        let spoken = self.speak_pieces(text, voice, out, cancel, first_audio)?;
        let audio = spoken.audio.as_secs_f64();
        tracing::info!(
            %device,
            %language,
            audio_s = audio,
            synthesis_s = spoken.synthesis.as_secs_f64(),
            rtf = if audio > 0.0 { spoken.synthesis.as_secs_f64() / audio } else { 0.0 },
            first_sound_ms = spoken.first_sound.map(|d| d.as_millis() as u64),
            cancelled = cancel.is_cancelled(),
            "spoke"
        );
        Ok(())
    }

    fn set_volume(&self, volume: f32) {
        self.volume
            .store(volume.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    fn available(&self, language: &Language) -> Result<(), String> {
        let r = if language.primary() == "zh" {
            match (&self.kokoro_files, &self.espeak) {
                (Ok(_), _) | (_, Ok(_)) => Ok(()),
                (Err(kokoro), Err(espeak)) => Err(format!("{kokoro}; {espeak}")),
            }
        } else {
            self.piper.as_ref().map(|_| ()).map_err(String::clone)
        };
        r.map_err(|why| format!("speech output is not available in {language}: {why}"))
    }
}
