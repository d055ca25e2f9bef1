//! Playback on the default output device (rodio over cpal; PulseAudio when a server is
//! reachable, else ALSA), stoppable at once.
//!
//! A device stream is opened for each utterance and closed after it: an idle daemon then holds
//! no audio stream open (no mixing of silence, no CPU, nothing keeping a suspended sink awake),
//! and a device that appeared or changed since start is picked up. Opening costs a few
//! milliseconds against a PulseAudio server.

use std::num::NonZero;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rodio::buffer::SamplesBuffer;
use rodio::{DeviceSinkBuilder, MixerDeviceSink, Player};

/// How often a waiting player looks at its stop condition.
const POLL: Duration = Duration::from_millis(10);
/// Sounds queued in the player at most while more are produced (`play_stream`).
const MAX_QUEUED_SOUNDS: usize = 4;
/// Silence played after the last sound so its end has left the device buffers (rodio asks for
/// 50 ms periods, PulseAudio then buffers two) before the stream is closed.
const TAIL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error(
        "no audio output device: {0}. Fix: start PulseAudio (or PipeWire's pulse server) for this \
         user, or check the sound card with `aplay -l`"
    )]
    NoDevice(String),
    #[error("the audio output device failed: {0}")]
    Device(String),
}

/// Opens the default output device once to see that sound can be played; returns its name.
pub fn probe() -> Result<String, PlaybackError> {
    let out = Output::open()?;
    Ok(out.device)
}

/// An open output stream with a queue of sounds.
pub struct Output {
    // Field order: the player goes before the stream it plays on.
    player: Player,
    _sink: MixerDeviceSink,
    device: String,
    queued: Duration,
    /// Where the volume is read from while playing (f32 bits), when it can change.
    level: Option<Arc<AtomicU32>>,
}

impl Output {
    /// Opens the default output device.
    pub fn open() -> Result<Output, PlaybackError> {
        use cpal::traits::{DeviceTrait, HostTrait};
        let host = cpal::default_host();
        let device = host.default_output_device().ok_or_else(|| {
            PlaybackError::NoDevice(format!(
                "the {} host has no default output device",
                host.id().name()
            ))
        })?;
        let name = device
            .description()
            .map(|d| d.name().to_string())
            .unwrap_or_else(|_| "default".into());
        let mut sink = DeviceSinkBuilder::from_device(device)
            .map_err(|e| PlaybackError::NoDevice(chain(&e)))?
            .with_error_callback(|e| tracing::warn!("audio output: {e}"))
            .open_stream()
            .map_err(|e| PlaybackError::NoDevice(chain(&e)))?;
        sink.log_on_drop(false);
        let player = Player::connect_new(sink.mixer());
        Ok(Output {
            player,
            _sink: sink,
            device: format!("{} ({})", name, host.id().name()),
            queued: Duration::ZERO,
            level: None,
        })
    }

    /// Loudness of what plays, 0 (silent) to 1 (as given); clamped.
    pub fn set_volume(&self, volume: f32) {
        let volume = volume.clamp(0.0, 1.0);
        self.player.set_volume(volume);
        super::echo::played().set_volume(volume);
    }

    /// Takes the volume from `level` (an `f32`'s bits) now and while playing, so a change
    /// (the D-Bus `Volume` property) reaches an utterance that is already playing.
    pub fn follow_volume(&mut self, level: Arc<AtomicU32>) {
        self.set_volume(f32::from_bits(level.load(Ordering::Relaxed)));
        self.level = Some(level);
    }

    fn apply_volume(&self) {
        if let Some(level) = &self.level {
            let v = f32::from_bits(level.load(Ordering::Relaxed)).clamp(0.0, 1.0);
            if (self.player.volume() - v).abs() > f32::EPSILON {
                self.set_volume(v);
            }
        }
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Queues mono samples in [-1, 1] at `sample_rate`; they play after what is queued.
    pub fn append(&mut self, samples: Vec<f32>, sample_rate: u32) {
        let Some(rate) = NonZero::new(sample_rate) else {
            return;
        };
        if samples.is_empty() {
            return;
        }
        self.queued += Duration::from_secs_f64(samples.len() as f64 / f64::from(sample_rate));
        // What plays is metered into the played-energy reference the barge-in gate hears our
        // own voice by.
        let reference: Arc<dyn Fn(Instant, f32) + Send + Sync> =
            Arc::new(|at, power| super::echo::played().push(at, power));
        self.player.append(super::echo::Metered::new(
            SamplesBuffer::new(NonZero::<u16>::MIN, rate, samples),
            reference,
        ));
    }

    /// Queues `d` of silence (the pause between sentences).
    pub fn append_silence(&mut self, d: Duration, sample_rate: u32) {
        let n = (d.as_secs_f64() * f64::from(sample_rate)) as usize;
        self.append(vec![0.0; n], sample_rate);
    }

    /// Audio queued so far (played or not).
    pub fn queued(&self) -> Duration {
        self.queued
    }

    /// Stops at once: the queue is dropped and the device stream closed.
    pub fn stop(self) {
        self.player.stop();
    }

    /// Plays what is queued to the end, or stops as soon as `stop()` says so. Returns whether
    /// it played to the end. The stream closes after a short tail of silence so the last
    /// syllable is not cut.
    pub fn finish(mut self, stop: impl Fn() -> bool) -> bool {
        self.append_silence(TAIL, 16_000);
        // A guard against a device that stopped consuming: never wait much past the audio.
        let deadline = Instant::now() + self.queued + Duration::from_secs(5);
        while !self.player.empty() {
            self.apply_volume();
            if stop() {
                self.player.stop();
                return false;
            }
            if Instant::now() > deadline {
                tracing::warn!(device = %self.device, "audio output stalled; closing it");
                return true;
            }
            std::thread::sleep(POLL);
        }
        true
    }

    /// Plays sounds as they arrive on `sounds` (mono samples and their rate) until the sender
    /// is dropped and all has played, or until `stop()` says so (checked every 10 ms, also
    /// while the producer is still computing the next sound). Returns whether it played to the
    /// end.
    pub fn play_stream(
        mut self,
        sounds: std::sync::mpsc::Receiver<(Vec<f32>, u32)>,
        stop: impl Fn() -> bool,
    ) -> bool {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            self.apply_volume();
            if stop() {
                self.player.stop();
                return false;
            }
            // Take the next sound only when few are waiting to play: a producer far ahead of
            // the speaker (100 KB of text) waits on its bounded channel instead of filling
            // memory with hours of audio.
            if self.player.len() >= MAX_QUEUED_SOUNDS {
                std::thread::sleep(POLL);
                continue;
            }
            match sounds.recv_timeout(POLL) {
                Ok((samples, rate)) => self.append(samples, rate),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.finish(stop)
    }
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
