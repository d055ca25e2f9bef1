//! [`VoiceSpeaker`]: the engine's speech-output stage. English is spoken by the Piper voice
//! (`tts.voice_en`), Mandarin by espeak-ng (`tts.espeak_voice_zh`, run as a separate
//! process), both played on the default output device.
//!
//! Piper output is streamed: each sentence plays as soon as it is synthesised while the next
//! one is computed, so the first words come after one sentence's synthesis, not the whole
//! text's. Cancel (barge-in, `Cancel`, shutdown) stops playback at once — the playing loop
//! checks it every 10 ms, also while a sentence is still being synthesised.

use std::path::Path;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::espeak::EspeakVoice;
use crate::audio::playback::{self, Output};
use crate::config::Config;
use crate::engine::{CancelToken, Speaker, StageError};
use crate::models::Manifest;
use crate::nlu::Language;
use crate::tts::PiperVoice;

pub struct VoiceSpeaker {
    piper: Result<Mutex<PiperVoice>, String>,
    espeak: Result<EspeakVoice, String>,
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
                Ok(VoiceSpeaker { piper, espeak })
            }
        }
    }

    fn speak_piper(
        &self,
        voice: &Mutex<PiperVoice>,
        text: &str,
        out: Output,
        cancel: &CancelToken,
    ) -> Result<Spoken, StageError> {
        let mut voice = voice.lock().map_err(|_| {
            StageError("the Piper voice is unusable after an earlier failure".into())
        })?;
        let voice: &mut PiperVoice = &mut voice;
        let pause = Duration::from_secs_f32(voice.sentence_pause_secs.max(0.0));
        let rate = voice.sample_rate();
        let (tx, rx) = mpsc::channel::<(Vec<f32>, u32)>();
        let (result, spoken) = std::thread::scope(|scope| {
            let synth = scope.spawn(move || {
                let started = Instant::now();
                let mut audio = Duration::ZERO;
                let mut first_sound = None;
                let r = voice.synthesize_each(text, |a| {
                    if cancel.is_cancelled() {
                        return false;
                    }
                    if first_sound.is_some() {
                        let gap = (pause.as_secs_f32() * rate as f32) as usize;
                        audio += pause;
                        if tx.send((vec![0.0; gap], rate)).is_err() {
                            return false;
                        }
                    }
                    first_sound.get_or_insert_with(|| started.elapsed());
                    audio += Duration::from_secs_f64(
                        a.samples.len() as f64 / f64::from(a.sample_rate.max(1)),
                    );
                    tx.send((a.samples, a.sample_rate)).is_ok()
                });
                // `tx` is dropped here: the player plays what it has, then returns.
                (
                    r,
                    Spoken {
                        audio,
                        synthesis: started.elapsed(),
                        first_sound,
                    },
                )
            });
            out.play_stream(rx, || cancel.is_cancelled());
            synth.join().unwrap_or_else(|_| {
                (
                    Ok(()),
                    Spoken {
                        audio: Duration::ZERO,
                        synthesis: Duration::ZERO,
                        first_sound: None,
                    },
                )
            })
        });
        result.map_err(|e| StageError(e.to_string()))?;
        Ok(spoken)
    }

    fn speak_espeak(
        &self,
        voice: &EspeakVoice,
        text: &str,
        mut out: Output,
        cancel: &CancelToken,
    ) -> Result<Spoken, StageError> {
        let t0 = Instant::now();
        let stop = || cancel.is_cancelled();
        let (samples, rate) = voice.synthesize(text, &stop).map_err(StageError)?;
        let synthesis = t0.elapsed();
        let audio = Duration::from_secs_f64(samples.len() as f64 / f64::from(rate.max(1)));
        out.append(samples, rate);
        out.finish(stop);
        Ok(Spoken {
            audio,
            synthesis,
            first_sound: Some(synthesis),
        })
    }
}

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
    let voice = PiperVoice::load(&path).map_err(|e| e.to_string())?;
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
        self.available(language).map_err(StageError)?;
        if cancel.is_cancelled() {
            return Ok(());
        }
        let out = Output::open().map_err(|e| StageError(e.to_string()))?;
        let device = out.device().to_string();
        let spoken = if language.primary() == "zh" {
            match &self.espeak {
                Ok(v) => self.speak_espeak(v, text, out, cancel)?,
                Err(why) => return Err(StageError(why.clone())),
            }
        } else {
            match &self.piper {
                Ok(v) => self.speak_piper(v, text, out, cancel)?,
                Err(why) => return Err(StageError(why.clone())),
            }
        };
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

    fn available(&self, language: &Language) -> Result<(), String> {
        let r = if language.primary() == "zh" {
            self.espeak.as_ref().map(|_| ())
        } else {
            self.piper.as_ref().map(|_| ())
        };
        r.map_err(|why| format!("speech output is not available in {language}: {why}"))
    }
}
