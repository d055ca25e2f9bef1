//! The listening loop: microphone frames → wake word (when enabled) → voice activity →
//! end-of-speech segmenter → one utterance, with the growing utterance handed out every
//! `partial_interval` for partial transcripts.
//!
//! One [`Listener`] owns the microphone and the streaming models (they keep state between
//! frames, so only one caller uses them at a time: a mutex). Two callers take turns:
//! the wake-word loop ([`Listener::wait_for_wake_word`]) and a turn's capture
//! ([`Listener::capture_utterance`]). A capture announces itself first, and the wake-word
//! wait returns within one read (≈ 20 ms) so push-to-talk is never blocked by it.
//!
//! After a wake word, the capture continues the same stream (the command may follow the
//! keyword without a pause), but skips audio until the tail of the keyword has ended (a short
//! silence), so the utterance holds the command and not "…kit".
//!
//! Everything here blocks; callers run it on dedicated threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::segmenter::{SegmenterConfig, VadEvent, VadSegmenter};
use super::vad::{VoiceActivityDetector, FRAME_SAMPLES};
use super::wakeword::{Detection, WakeWordDetector};
use super::{ListenError, SAMPLE_RATE};
use crate::audio::{AudioSource, CaptureError};

/// How one listens, from the `[vad]`, `[asr]` and `[wakeword]` config sections.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub segmenter: SegmenterConfig,
    /// Hand out the growing utterance this often (ms of audio); 0: never.
    pub partial_interval_ms: u32,
    /// Give up when no speech starts within this long (ms).
    pub start_timeout_ms: u32,
    /// Cut an utterance at this length (ms).
    pub max_utterance_ms: u32,
    /// After a wake word: silence that marks the end of the keyword (ms) …
    pub wake_gap_ms: u32,
    /// … and the most audio skipped waiting for it (ms).
    pub wake_gap_max_ms: u32,
    /// What interrupts the assistant while it speaks (`tts.barge_in`).
    pub barge_in: BargeMode,
    /// The echo gate's margin over the predicted echo (`tts.barge_in_margin_db`).
    pub barge_in_margin_db: f32,
}

/// What may interrupt the assistant while it speaks (`tts.barge_in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BargeMode {
    /// Nothing: the microphone is not listened to while the assistant speaks.
    Off,
    /// The wake word (heard over the assistant's own voice).
    Wake,
    /// The wake word, or voice that is not the assistant's own echo.
    Voice,
}

impl BargeMode {
    /// `wake`, `voice` or `off` (the config's values; anything else is `Wake`).
    pub fn parse(s: &str) -> BargeMode {
        match s {
            "off" => BargeMode::Off,
            "voice" => BargeMode::Voice,
            _ => BargeMode::Wake,
        }
    }
}

/// Why the assistant was interrupted.
#[derive(Debug, Clone)]
pub enum BargeIn {
    /// The wake word, heard above the assistant's echo.
    WakeWord(Detection),
    /// Voice above the assistant's echo (`tts.barge_in = "voice"`).
    Voice {
        /// Audio from the first voiced frame to the detection (ms).
        onset_ms: u32,
    },
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            segmenter: SegmenterConfig::default(),
            partial_interval_ms: 1000,
            start_timeout_ms: 6000,
            max_utterance_ms: 15_000,
            wake_gap_ms: 150,
            wake_gap_max_ms: 800,
            barge_in: BargeMode::Wake,
            barge_in_margin_db: 10.0,
        }
    }
}

/// Why listening failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Model(#[from] ListenError),
    #[error("wake-word detection is not available: no wake-word model was loaded")]
    NoWakeWord,
}

struct Front {
    mic: Box<dyn AudioSource>,
    vad: Box<dyn VoiceActivityDetector>,
    wake: Option<WakeWordDetector>,
    /// Set when a wake word fired: the next capture continues the stream from there.
    after_wake: bool,
    /// Set when voice barged in: the next capture starts with this audio (the speech heard
    /// so far, with a little before it) and continues the stream.
    after_voice: Option<Vec<f32>>,
    read_buf: Vec<f32>,
    /// 16 kHz samples read but not yet a whole VAD frame.
    carry: Vec<f32>,
}

/// Microphone + VAD + wake word, shared by the wake-word loop and the turns.
pub struct Listener {
    front: Mutex<Front>,
    /// Captures waiting for the front; the wake-word wait yields to them.
    waiting_captures: AtomicUsize,
    config: ListenConfig,
}

/// Consecutive VAD frames (32 ms) of voice beyond the echo that barge in (`voice` mode).
pub const BARGE_VOICE_FRAMES: usize = 2;
/// A wake word heard while speaking counts only with this many frames of voice beyond the
/// echo within the last [`BARGE_WAKE_WINDOW_FRAMES`] (the keyword is the user's, not a false
/// alarm on the assistant's own voice).
const BARGE_WAKE_MIN_FRAMES: usize = 4;
const BARGE_WAKE_WINDOW_FRAMES: usize = 50;
/// Audio before a voice barge-in handed to the capture that follows (ms).
const BARGE_KEEP_MS: u32 = 600;

/// A read of at most this much audio means the loop keeps up with the microphone.
const CAUGHT_UP_MS: u32 = 120;

/// Samples in `ms` milliseconds at 16 kHz.
fn samples(ms: u32) -> usize {
    (u64::from(ms) * u64::from(SAMPLE_RATE) / 1000) as usize
}

impl Listener {
    /// `mic` is the [`crate::audio::Microphone`] (or a [`crate::audio::ClipSource`] in tests).
    pub fn new(
        mic: Box<dyn AudioSource>,
        vad: Box<dyn VoiceActivityDetector>,
        wake: Option<WakeWordDetector>,
        config: ListenConfig,
    ) -> Listener {
        Listener {
            front: Mutex::new(Front {
                mic,
                vad,
                wake,
                after_wake: false,
                after_voice: None,
                read_buf: Vec::new(),
                carry: Vec::new(),
            }),
            waiting_captures: AtomicUsize::new(0),
            config,
        }
    }

    pub fn config(&self) -> &ListenConfig {
        &self.config
    }

    /// Keywords of the loaded wake-word detector (empty without one).
    pub fn keywords(&self) -> Vec<String> {
        self.lock()
            .wake
            .as_ref()
            .map(|w| w.keywords().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Front> {
        self.front.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listens for a wake word until one fires (`Some`), or `keep_going` turns false or a
    /// capture wants the microphone (`None`). A missing microphone is an error (after ~1 s),
    /// so the caller can log it and retry.
    pub fn wait_for_wake_word(
        &self,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<Option<Detection>, ListenerError> {
        let mut guard = self.lock();
        let front = &mut *guard;
        if front.wake.is_none() {
            return Err(ListenerError::NoWakeWord);
        }
        front.mic.flush()?;
        if let Some(w) = front.wake.as_mut() {
            w.reset();
        }
        loop {
            match self.read_while(front, keep_going, Duration::from_secs(1))? {
                None => return Ok(None),
                Some(false) => continue,
                Some(true) => {}
            }
            let Some(wake) = front.wake.as_mut() else {
                return Err(ListenerError::NoWakeWord);
            };
            let detections = wake.process(&front.read_buf)?;
            if let Some(best) = detections
                .into_iter()
                .max_by(|a, b| a.score.total_cmp(&b.score))
            {
                tracing::info!(keyword = %best.keyword, score = best.score, "wake word");
                front.after_wake = true;
                front.after_voice = None;
                front.carry.clear();
                return Ok(Some(best));
            }
        }
    }

    /// While the assistant speaks: listens through the echo gate (the played-energy reference,
    /// [`crate::audio::echo`]) until the wake word is heard above the assistant's own voice, or
    /// (with [`BargeMode::Voice`]) speech that is not its echo lasts [`BARGE_VOICE_FRAMES`]
    /// frames. Returns `None` when `keep_going` turns false (the assistant stopped speaking)
    /// or a capture wants the microphone. After `Some`, the next capture continues the stream:
    /// after a wake word as [`wait_for_wake_word`](Self::wait_for_wake_word); after voice it
    /// starts with the speech heard so far.
    pub fn watch_for_barge_in(
        &self,
        keep_going: &dyn Fn() -> bool,
        wake_word: bool,
    ) -> Result<Option<BargeIn>, ListenerError> {
        let mode = self.config.barge_in;
        let voice = mode == BargeMode::Voice;
        let wake_word = wake_word && mode != BargeMode::Off;
        if !voice && !wake_word {
            return Ok(None);
        }
        let mut guard = self.lock();
        let front = &mut *guard;
        let wake_word = wake_word && front.wake.is_some();
        if !voice && !wake_word {
            return Ok(None);
        }
        front.mic.flush()?;
        front.carry.clear();
        front.vad.reset();
        if let Some(w) = front.wake.as_mut() {
            w.reset();
        }
        let reference = crate::audio::echo::played();
        let mut gate = crate::audio::echo::EchoGate::new(
            reference,
            crate::audio::echo::GateConfig {
                margin_db: self.config.barge_in_margin_db,
                ..Default::default()
            },
        );
        let threshold = self.config.segmenter.threshold;
        // Recent audio (for the capture that follows) and which recent frames were the
        // user's voice (a wake word must have some).
        let keep = samples(BARGE_KEEP_MS);
        let mut recent: std::collections::VecDeque<f32> = std::collections::VecDeque::new();
        let mut voiced: std::collections::VecDeque<bool> = std::collections::VecDeque::new();
        let mut run = 0usize;
        loop {
            match self.read_while(front, keep_going, Duration::from_millis(200))? {
                None => {
                    tracing::debug!(
                        lag_ms = gate.lag().map(|l| l.as_millis() as u64),
                        gain_db = 10.0 * gate.gain().max(1e-12).log10(),
                        "echo gate at the end of speaking"
                    );
                    return Ok(None);
                }
                Some(false) => continue,
                Some(true) => {}
            }
            let now = std::time::Instant::now();
            let mut input = std::mem::take(&mut front.carry);
            input.extend_from_slice(&front.read_buf);
            let whole = input.len() / FRAME_SAMPLES * FRAME_SAMPLES;
            let mut barged: Option<usize> = None;
            for (k, frame) in input[..whole].chunks_exact(FRAME_SAMPLES).enumerate() {
                // The last sample read arrived about now; earlier ones one sample period apart.
                let after = input.len() - (k + 1) * FRAME_SAMPLES;
                let end = now
                    .checked_sub(Duration::from_secs_f64(
                        after as f64 / f64::from(SAMPLE_RATE),
                    ))
                    .unwrap_or(now);
                let prob = front.vad.process(frame)?;
                let judged = gate.judge(frame, end);
                let user = judged.beyond_echo && prob >= threshold;
                voiced.push_back(user);
                if voiced.len() > BARGE_WAKE_WINDOW_FRAMES {
                    voiced.pop_front();
                }
                run = if user { run + 1 } else { 0 };
                if voice && run >= BARGE_VOICE_FRAMES && barged.is_none() {
                    barged = Some(run);
                    tracing::info!(
                        frames = run,
                        power_db = 10.0 * judged.power.max(1e-12).log10(),
                        echo_db = 10.0 * judged.echo.max(1e-12).log10(),
                        lag_ms = gate.lag().map(|l| l.as_millis() as u64),
                        gain = gate.gain(),
                        "barge-in: voice beyond the assistant's echo"
                    );
                }
            }
            recent.extend(&input[..whole]);
            while recent.len() > keep {
                recent.pop_front();
            }
            if let Some(frames) = barged {
                let mut heard: Vec<f32> = recent.iter().copied().collect();
                heard.extend_from_slice(&input[whole..]);
                front.carry.clear();
                front.after_wake = false;
                front.after_voice = Some(heard);
                let onset_ms = (frames * FRAME_SAMPLES * 1000 / SAMPLE_RATE as usize) as u32;
                return Ok(Some(BargeIn::Voice { onset_ms }));
            }
            front.carry = input[whole..].to_vec();
            if !wake_word {
                continue;
            }
            let Some(wake) = front.wake.as_mut() else {
                continue;
            };
            let detections = wake.process(&front.read_buf)?;
            if let Some(best) = detections
                .into_iter()
                .max_by(|a, b| a.score.total_cmp(&b.score))
            {
                let user_frames = voiced.iter().filter(|v| **v).count();
                if user_frames < BARGE_WAKE_MIN_FRAMES {
                    tracing::info!(
                        keyword = %best.keyword,
                        score = best.score,
                        user_frames,
                        "wake word while speaking, but not above the assistant's echo: ignored"
                    );
                    continue;
                }
                tracing::info!(
                    keyword = %best.keyword,
                    score = best.score,
                    user_frames,
                    "barge-in: wake word"
                );
                front.after_wake = true;
                front.after_voice = None;
                front.carry.clear();
                return Ok(Some(BargeIn::WakeWord(best)));
            }
        }
    }

    /// One read of a waiting loop into `front.read_buf`: `None` when the loop should stop
    /// (`keep_going` is false, or a capture wants the microphone), else whether audio came.
    fn read_while(
        &self,
        front: &mut Front,
        keep_going: &dyn Fn() -> bool,
        wait: Duration,
    ) -> Result<Option<bool>, ListenerError> {
        if !keep_going() || self.waiting_captures.load(Ordering::SeqCst) > 0 {
            return Ok(None);
        }
        front.read_buf.clear();
        front.mic.read(&mut front.read_buf, wait)?;
        // The read may have waited: if a capture wants the microphone now (push-to-talk
        // started meanwhile), what arrived is its audio, not the wake word's — an app that
        // pushes audio can have pushed the whole command already. Give it back.
        if !keep_going() || self.waiting_captures.load(Ordering::SeqCst) > 0 {
            front.mic.unread(&front.read_buf);
            front.read_buf.clear();
            return Ok(None);
        }
        Ok(Some(!front.read_buf.is_empty()))
    }

    /// Captures one utterance: from now (push-to-talk) or from the last wake word, until the
    /// end of speech, `cancelled()`, the start timeout (empty result: nobody spoke) or the
    /// length limit. `partial` gets the utterance so far every `partial_interval_ms`.
    pub fn capture_utterance(
        &self,
        cancelled: &dyn Fn() -> bool,
        partial: &mut dyn FnMut(&[f32]),
    ) -> Result<Vec<f32>, ListenerError> {
        self.waiting_captures.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock();
        self.waiting_captures.fetch_sub(1, Ordering::SeqCst);
        let front = &mut *guard;
        let dropped_before = front.mic.dropped_samples();
        let result = self.capture_locked(front, cancelled, partial);
        let dropped = front.mic.dropped_samples() - dropped_before;
        if dropped > 0 {
            tracing::warn!(
                dropped_ms = dropped * 1000 / u64::from(SAMPLE_RATE),
                "audio lost while listening: the listening thread fell behind the microphone"
            );
        }
        result
    }

    fn capture_locked(
        &self,
        front: &mut Front,
        cancelled: &dyn Fn() -> bool,
        partial: &mut dyn FnMut(&[f32]),
    ) -> Result<Vec<f32>, ListenerError> {
        let continuing = std::mem::take(&mut front.after_wake);
        let after_voice = front.after_voice.take();
        if let Some(heard) = after_voice {
            // Voice barged in: its start is already heard; go on from there.
            let mut input = heard;
            input.append(&mut front.carry);
            front.carry = input;
        } else if !continuing {
            front.mic.flush()?;
            front.carry.clear();
        }
        front.vad.reset();
        let cfg = &self.config;
        let mut seg = VadSegmenter::new(cfg.segmenter.clone());
        let neg = cfg.segmenter.neg_threshold;
        // After a wake word: skip until `wake_gap_ms` of non-speech (the keyword's end).
        let mut skipping = continuing;
        let mut quiet_run = 0usize;
        let mut skipped: Vec<(Vec<f32>, f32)> = Vec::new();
        let mut audio: Vec<f32> = Vec::new();
        let mut speech_start: Option<usize> = None;
        let mut last_partial = 0usize;
        let interval = samples(cfg.partial_interval_ms);
        loop {
            if cancelled() {
                return Ok(Vec::new());
            }
            front.read_buf.clear();
            // Generous: the first stream of a just-started microphone takes a moment to open.
            front
                .mic
                .read(&mut front.read_buf, Duration::from_secs(3))?;
            // A partial transcription runs on this thread; only start one when caught up with
            // the microphone, so partials never delay the end of speech.
            let caught_up = front.read_buf.len() <= samples(CAUGHT_UP_MS);
            let mut input = std::mem::take(&mut front.carry);
            input.extend_from_slice(&front.read_buf);
            let whole = input.len() / FRAME_SAMPLES * FRAME_SAMPLES;
            front.carry = input[whole..].to_vec();
            let mut frames: Vec<(Vec<f32>, f32)> = Vec::with_capacity(whole / FRAME_SAMPLES);
            for frame in input[..whole].chunks_exact(FRAME_SAMPLES) {
                let prob = front.vad.process(frame)?;
                if skipping {
                    skipped.push((frame.to_vec(), prob));
                    quiet_run = if prob < neg {
                        quiet_run + FRAME_SAMPLES
                    } else {
                        0
                    };
                    if quiet_run >= samples(cfg.wake_gap_ms) {
                        tracing::debug!(skipped_ms = skipped.len() * 32, "end of the wake word");
                        skipping = false;
                        // The pause itself stays: the recogniser does worse on speech that
                        // starts at the very first sample.
                        let keep = quiet_run / FRAME_SAMPLES;
                        frames.extend(skipped.drain(..).rev().take(keep).rev());
                    } else if skipped.len() * FRAME_SAMPLES >= samples(cfg.wake_gap_max_ms) {
                        // No pause after the keyword: the command may have begun right after
                        // it, so keep everything since the detection rather than lose its start.
                        tracing::debug!(
                            "no pause after the wake word; keeping the audio since the detection"
                        );
                        skipping = false;
                        frames.append(&mut skipped);
                    }
                    continue;
                }
                frames.push((frame.to_vec(), prob));
            }
            for (frame, prob) in frames {
                audio.extend_from_slice(&frame);
                match seg.push(prob) {
                    Some(VadEvent::Start { start }) => {
                        tracing::debug!(at_ms = start * 1000 / samples(1000), "speech started");
                        speech_start = Some(start);
                    }
                    Some(VadEvent::End(s)) => {
                        let end = s.end.min(audio.len());
                        tracing::debug!(ms = s.duration_ms(SAMPLE_RATE), "end of speech");
                        return Ok(audio[s.start.min(end)..end].to_vec());
                    }
                    None => {}
                }
            }
            match speech_start {
                None if audio.len() >= samples(cfg.start_timeout_ms) => {
                    tracing::info!(
                        timeout_ms = cfg.start_timeout_ms,
                        "no speech (vad.start_timeout_ms)"
                    );
                    return Ok(Vec::new());
                }
                Some(start) if audio.len() - start >= samples(cfg.max_utterance_ms) => {
                    tracing::info!(
                        limit_ms = cfg.max_utterance_ms,
                        "utterance cut at vad.max_utterance_ms"
                    );
                    return Ok(audio[start..].to_vec());
                }
                Some(start)
                    if caught_up
                        && interval > 0
                        && audio.len() - last_partial.max(start) >= interval =>
                {
                    last_partial = audio.len();
                    partial(&audio[start..]);
                }
                _ => {}
            }
        }
    }
}
