//! [`VoiceSpeaker`]: the engine's speech-output stage. English is spoken by the Piper voice
//! (`tts.voice_en`), Mandarin by espeak-ng (`tts.espeak_voice_zh`, run as a separate
//! process), both played on the default output device.
//!
//! Output is streamed in pieces (`tts::text::pieces`: a sentence's first clause, then the rest
//! of it): each plays as soon as it is synthesised while the next is computed, so the first
//! words come after one clause's synthesis, not the whole text's. An answer streamed by a
//! model is spoken from its first complete clause (`speak_stream`, `tts::text::TextStream`). Cancel (barge-in, `Cancel`, shutdown) stops playback at once — the playing loop
//! checks it every 10 ms, also while a sentence is still being synthesised.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::espeak::EspeakVoice;
use crate::audio::playback::{self, Output};
use crate::config::Config;
use crate::engine::{CancelToken, Speaker, StageError};
use crate::models::Manifest;
use crate::nlu::Language;
use crate::tts::text::{pieces, TextStream};
use crate::tts::PiperVoice;

pub struct VoiceSpeaker {
    piper: Result<Mutex<PiperVoice>, String>,
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
        let espeak = EspeakVoice::check("espeak-ng", &config.tts.espeak_voice_zh);
        match (&piper, &espeak) {
            (Err(en), Err(zh)) => Err(format!("no voice: {en}; {zh}")),
            _ => {
                if let Err(why) = &piper {
                    tracing::warn!("English speech output is not available: {why}");
                }
                if let Err(why) = &espeak {
                    tracing::warn!("Mandarin speech output is not available: {why}");
                }
                Ok(VoiceSpeaker {
                    piper,
                    espeak,
                    volume: Arc::new(AtomicU32::new(config.tts.volume.to_bits())),
                })
            }
        }
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
            Voice::Espeak(voice) => {
                let mut all = Vec::new();
                let mut rate = 22_050;
                for piece in pieces(text) {
                    let stop = || cancel.is_cancelled();
                    let (samples, r) =
                        voice.synthesize(&piece.text(), &stop).map_err(StageError)?;
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
        }
    }

    fn voice(&self, language: &Language) -> Result<Voice<'_>, StageError> {
        if language.primary() == "zh" {
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

/// The voice a text is spoken with.
#[derive(Clone, Copy)]
enum Voice<'a> {
    Piper(&'a Mutex<PiperVoice>),
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
            Voice::Espeak(voice) => {
                for piece in pieces(text) {
                    let stop = || self.cancel.is_cancelled();
                    let (samples, rate) =
                        voice.synthesize(&piece.text(), &stop).map_err(StageError)?;
                    going = self.send(samples, rate, SENTENCE_PAUSE_SECS, piece.ends_sentence);
                    if !going {
                        break;
                    }
                }
            }
        }
        Ok(going)
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
    let manifest = Manifest::builtin().map_err(|e| e.to_string())?;
    let path = manifest
        .primary_path(models_dir, &config.tts.voice_en)
        .map_err(|e| e.to_string())?;
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
            self.espeak.as_ref().map(|_| ())
        } else {
            self.piper.as_ref().map(|_| ())
        };
        r.map_err(|why| format!("speech output is not available in {language}: {why}"))
    }
}
