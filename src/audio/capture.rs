//! Microphone capture with `cpal`: the configured input device at its native rate and format,
//! converted to 16 kHz mono `f32` for the listening models.
//!
//! Threads and buffers, and why:
//! - The audio callback only downmixes to mono and pushes into a lock-free SPSC ring
//!   (`rtrb`). It never blocks or allocates; when the reader falls behind (a partial
//!   transcription is running on the reading thread), samples that do not fit are dropped and
//!   counted ([`Microphone::dropped_samples`]) instead of stalling the audio server.
//! - A supervisor thread ("skylark-mic") opens the device and keeps it open. When the stream
//!   reports an error or delivers nothing for [`STALL`], it is closed and reopened with
//!   exponential backoff (logged once per outage, not once per attempt): a USB microphone
//!   unplugged, a PulseAudio server restarted. Each opened stream gets a fresh ring, handed to
//!   the reader over a channel together with its sample rate.
//! - The reader ([`Microphone::read`]) resamples with rubato's FFT resampler (band-limited),
//!   one fixed-size input chunk at a time.
//!
//! Host choice: when a PulseAudio server is reachable (`$PULSE_SERVER` or the user's socket),
//! cpal's pure-Rust PulseAudio host is used; through ALSA's pulse plugin the default latency was
//! 2 s and the end of speech was lost. Otherwise ALSA.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::source::AudioSource;
use super::TARGET_SAMPLE_RATE;

/// A stream that delivered nothing for this long is considered dead and reopened.
const STALL: Duration = Duration::from_secs(2);
/// Reopen delays: from the first to the largest.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The ring holds this much native-rate audio: enough for a partial transcription to run on
/// the reading thread without losing samples.
const RING_SECONDS: usize = 10;
/// Audio delivered per callback. Fixed, because PulseAudio's default record fragment is 2 s.
const FRAGMENT_MS: u32 = 40;

/// Why the microphone gives no audio. The message names the device and the fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "the microphone {device} is not available: {reason}. Fix: check `audio.input_device` \
         in the config (`pactl list short sources` lists PulseAudio's), and that the audio \
         server runs; skylark keeps retrying"
    )]
    Unavailable { device: String, reason: String },
    #[error("cannot convert the microphone's {from} Hz audio to 16 kHz: {reason}")]
    Resample { from: u32, reason: String },
}

/// What the capture thread shares with the reader.
struct Shared {
    stop: AtomicBool,
    dropped: AtomicU64,
    /// Why the device is not open now (empty while it is).
    down_reason: Mutex<String>,
}

/// One opened stream's ring and rate.
struct Feed {
    consumer: rtrb::Consumer<f32>,
    rate: u32,
}

/// Native-rate mono → 16 kHz mono, in fixed input chunks (the microphone's, and audio an app
/// pushes: [`super::PushSource`]).
pub(crate) struct Converter {
    rate: u32,
    fft: Option<Fft<f32>>,
    pending: Vec<f32>,
}

impl Converter {
    pub(crate) fn new(rate: u32) -> Result<Converter, CaptureError> {
        let fft = if rate == TARGET_SAMPLE_RATE {
            None
        } else {
            let chunk = (rate as usize / 50).max(64);
            Some(
                Fft::<f32>::new(
                    rate as usize,
                    TARGET_SAMPLE_RATE as usize,
                    chunk,
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| CaptureError::Resample {
                    from: rate,
                    reason: e.to_string(),
                })?,
            )
        };
        Ok(Converter {
            rate,
            fft,
            pending: Vec::new(),
        })
    }

    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }

    pub(crate) fn push(&mut self, native: &[f32], out: &mut Vec<f32>) -> Result<(), CaptureError> {
        let Some(fft) = self.fft.as_mut() else {
            out.extend_from_slice(native);
            return Ok(());
        };
        self.pending.extend_from_slice(native);
        let err = |e: String| CaptureError::Resample {
            from: self.rate,
            reason: e,
        };
        let mut used = 0;
        loop {
            let need = fft.input_frames_next();
            if self.pending.len() - used < need {
                break;
            }
            let chunk = &self.pending[used..used + need];
            let input = InterleavedSlice::new(chunk, 1, need).map_err(|e| err(e.to_string()))?;
            let output = fft.process(&input, None).map_err(|e| err(e.to_string()))?;
            out.extend_from_slice(&output.take_data());
            used += need;
        }
        self.pending.drain(..used);
        Ok(())
    }
}

impl AudioSource for Microphone {
    fn read(&mut self, out: &mut Vec<f32>, wait: Duration) -> Result<usize, CaptureError> {
        Microphone::read(self, out, wait)
    }

    fn flush(&mut self) -> Result<(), CaptureError> {
        Microphone::flush(self)
    }

    fn dropped_samples(&self) -> u64 {
        Microphone::dropped_samples(self)
    }
}

/// A microphone that stays open (and reopens itself) until dropped.
pub struct Microphone {
    device: String,
    shared: Arc<Shared>,
    feeds: mpsc::Receiver<Feed>,
    current: Option<(rtrb::Consumer<f32>, Converter)>,
    scratch: Vec<f32>,
    thread: Option<JoinHandle<()>>,
}

impl Microphone {
    /// Starts capturing from `device` (a PulseAudio source name such as `vmic.monitor`, an
    /// ALSA device name, or `""` for the default input). Never fails: a missing device is
    /// retried in the background and [`read`](Self::read) reports it.
    pub fn open(device: &str) -> Microphone {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            down_reason: Mutex::new("not opened yet".into()),
        });
        let (tx, feeds) = mpsc::channel();
        let name = device.to_string();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("skylark-mic".into())
            .spawn(move || supervise(&name, &thread_shared, &tx))
            .map_err(|e| tracing::error!("cannot start the microphone thread: {e}"))
            .ok();
        Microphone {
            device: display_name(device),
            shared,
            feeds,
            current: None,
            scratch: Vec::new(),
            thread,
        }
    }

    /// Samples dropped because the reader fell behind, since the start.
    pub fn dropped_samples(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Appends the 16 kHz mono audio that arrived since the last call to `out`, waiting up to
    /// `wait` when none has. Returns how many samples were appended (0 after a quiet wait).
    pub fn read(&mut self, out: &mut Vec<f32>, wait: Duration) -> Result<usize, CaptureError> {
        self.take_new_feed()?;
        let before = out.len();
        let deadline = Instant::now() + wait;
        loop {
            if let Some((consumer, converter)) = self.current.as_mut() {
                let n = consumer.slots();
                if n > 0 {
                    self.scratch.clear();
                    if let Ok(chunk) = consumer.read_chunk(n) {
                        let (a, b) = chunk.as_slices();
                        self.scratch.extend_from_slice(a);
                        self.scratch.extend_from_slice(b);
                        chunk.commit_all();
                    }
                    converter.push(&self.scratch, out)?;
                }
                if out.len() > before {
                    return Ok(out.len() - before);
                }
            } else if Instant::now() >= deadline {
                let reason = lock(&self.shared.down_reason).clone();
                return Err(CaptureError::Unavailable {
                    device: self.device.clone(),
                    reason,
                });
            }
            if Instant::now() >= deadline {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_millis(10).min(wait));
            self.take_new_feed()?;
        }
    }

    /// Throws away audio captured so far (before a push-to-talk turn starts listening).
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        self.take_new_feed()?;
        if let Some((consumer, converter)) = self.current.as_mut() {
            let n = consumer.slots();
            if let Ok(chunk) = consumer.read_chunk(n) {
                chunk.commit_all();
            }
            *converter = Converter::new(converter.rate)?;
        }
        Ok(())
    }

    /// Switches to the newest stream the capture thread opened, if any.
    fn take_new_feed(&mut self) -> Result<(), CaptureError> {
        let mut newest = None;
        while let Ok(feed) = self.feeds.try_recv() {
            newest = Some(feed);
        }
        if let Some(feed) = newest {
            let converter = Converter::new(feed.rate)?;
            self.current = Some((feed.consumer, converter));
        }
        if let Some((consumer, _)) = &self.current {
            if consumer.is_abandoned() && consumer.is_empty() {
                self.current = None;
            }
        }
        Ok(())
    }
}

impl Drop for Microphone {
    /// Tells the capture thread to stop, without waiting: it may be inside a connection
    /// attempt that takes seconds to time out, and shutdown must not wait for that. It
    /// closes the stream and ends on its own within ~100 ms of that attempt.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        drop(self.thread.take());
    }
}

fn display_name(device: &str) -> String {
    if device.is_empty() {
        "(default input)".into()
    } else {
        format!("`{device}`")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens the device, watches the stream, reopens it when it dies; until `stop`.
fn supervise(device: &str, shared: &Arc<Shared>, feeds: &mpsc::Sender<Feed>) {
    let mut backoff = BACKOFF_MIN;
    let mut outage_logged = false;
    while !shared.stop.load(Ordering::SeqCst) {
        match open_stream(device, shared) {
            Ok(open) => {
                tracing::info!(
                    device = %open.name, host = open.host, rate = open.rate, channels = open.channels,
                    format = %open.format, "microphone open"
                );
                *lock(&shared.down_reason) = String::new();
                backoff = BACKOFF_MIN;
                outage_logged = false;
                if feeds
                    .send(Feed {
                        consumer: open.consumer,
                        rate: open.rate,
                    })
                    .is_err()
                {
                    return;
                }
                let why = watch(&open.health, shared);
                drop(open.stream);
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                tracing::warn!(device = %open.name, "microphone lost ({why}); reopening");
                *lock(&shared.down_reason) = why;
            }
            Err(reason) => {
                if !outage_logged {
                    tracing::warn!(
                        device = %display_name(device),
                        "no microphone: {reason}. Fix: start PulseAudio (or PipeWire's pulse server) \
                         for this user, check the sound card with `arecord -l`, or set \
                         audio.input_device; retrying quietly (up to every {}s)",
                        BACKOFF_MAX.as_secs(),
                        reason = reason.trim_end_matches('.'),
                    );
                    outage_logged = true;
                } else {
                    tracing::debug!("microphone still unavailable: {reason}");
                }
                *lock(&shared.down_reason) = reason;
                sleep_unless_stopped(backoff, shared);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

fn sleep_unless_stopped(d: Duration, shared: &Shared) {
    let end = Instant::now() + d;
    while Instant::now() < end && !shared.stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Signals from the audio callbacks to the supervisor.
struct Health {
    failed: Mutex<Option<String>>,
    /// Milliseconds since `epoch` of the last callback.
    last_data_ms: AtomicU64,
    epoch: Instant,
}

/// Blocks until the stream failed, stalled or `stop`; returns why.
fn watch(health: &Health, shared: &Shared) -> String {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if shared.stop.load(Ordering::SeqCst) {
            return "stopped".into();
        }
        if let Some(e) = lock(&health.failed).take() {
            return e;
        }
        let now = health.epoch.elapsed().as_millis() as u64;
        let last = health.last_data_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) > STALL.as_millis() as u64 {
            return format!("no audio for {} s", STALL.as_secs());
        }
    }
}

struct Opened {
    stream: cpal::Stream,
    consumer: rtrb::Consumer<f32>,
    health: Arc<Health>,
    name: String,
    host: &'static str,
    rate: u32,
    channels: u16,
    format: cpal::SampleFormat,
}

/// Elsewhere (Android: AAudio) the platform's one host. On Android the app usually owns the
/// microphone and feeds audio instead (`super::PushSource`).
#[cfg(not(target_os = "linux"))]
fn hosts() -> Vec<(cpal::Host, &'static str)> {
    vec![(cpal::default_host(), "default")]
}

/// The hosts to try, best first: PulseAudio when its socket is there, then ALSA.
#[cfg(target_os = "linux")]
fn hosts() -> Vec<(cpal::Host, &'static str)> {
    let mut out = Vec::new();
    let pulse_reachable = std::env::var_os("PULSE_SERVER").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| std::path::Path::new(&d).join("pulse/native").exists())
            .unwrap_or(false);
    if pulse_reachable {
        if let Ok(h) = cpal::host_from_id(cpal::HostId::PulseAudio) {
            out.push((h, "pulseaudio"));
        }
    }
    if let Ok(h) = cpal::host_from_id(cpal::HostId::Alsa) {
        out.push((h, "alsa"));
    }
    out
}

fn device_names(d: &cpal::Device) -> Vec<String> {
    let mut names = vec![d.to_string()];
    if let Ok(id) = d.id() {
        names.push(id.id().to_string());
    }
    if let Ok(desc) = d.description() {
        names.push(desc.name().to_string());
    }
    names
}

fn open_stream(device: &str, shared: &Arc<Shared>) -> Result<Opened, String> {
    let mut reasons = Vec::new();
    for (host, host_name) in hosts() {
        let found = if device.is_empty() {
            host.default_input_device()
        } else {
            match host.input_devices() {
                Ok(mut it) => it.find(|d| device_names(d).iter().any(|n| n == device)),
                Err(e) => {
                    reasons.push(format!("{host_name}: {e}"));
                    continue;
                }
            }
        };
        let Some(dev) = found else {
            reasons.push(format!("{host_name}: no such input device"));
            continue;
        };
        match build(&dev, host_name, shared) {
            Ok(o) => return Ok(o),
            Err(e) => reasons.push(format!("{host_name}: {e}")),
        }
    }
    if reasons.is_empty() {
        reasons.push("no audio host (neither PulseAudio nor ALSA)".into());
    }
    Err(reasons.join("; "))
}

fn build(dev: &cpal::Device, host: &'static str, shared: &Arc<Shared>) -> Result<Opened, String> {
    let supported = dev.default_input_config().map_err(|e| e.to_string())?;
    let rate = supported.sample_rate();
    let channels = supported.channels();
    let format = supported.sample_format();
    let mut config = supported.config();
    let fragment = (rate * FRAGMENT_MS / 1000).max(64);
    if let cpal::SupportedBufferSize::Range { min, max } = supported.buffer_size() {
        if (*min..=*max).contains(&fragment) {
            config.buffer_size = cpal::BufferSize::Fixed(fragment);
        }
    }
    let (producer, consumer) = rtrb::RingBuffer::<f32>::new(rate as usize * RING_SECONDS);
    let health = Arc::new(Health {
        failed: Mutex::new(None),
        last_data_ms: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    let stream = match format {
        cpal::SampleFormat::F32 => input::<f32>(dev, &config, producer, &health, shared),
        cpal::SampleFormat::I16 => input::<i16>(dev, &config, producer, &health, shared),
        cpal::SampleFormat::I32 => input::<i32>(dev, &config, producer, &health, shared),
        cpal::SampleFormat::U8 => input::<u8>(dev, &config, producer, &health, shared),
        other => {
            // Ask for f32 and let the server convert.
            tracing::debug!("native format {other} not handled; asking for f32");
            input::<f32>(dev, &config, producer, &health, shared)
        }
    }?;
    stream.play().map_err(|e| e.to_string())?;
    let name = dev
        .id()
        .map(|i| i.id().to_string())
        .unwrap_or_else(|_| dev.to_string());
    Ok(Opened {
        stream,
        consumer,
        health,
        name,
        host,
        rate,
        channels,
        format,
    })
}

fn input<T>(
    dev: &cpal::Device,
    config: &cpal::StreamConfig,
    mut producer: rtrb::Producer<f32>,
    health: &Arc<Health>,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, String>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let inv = 1.0 / channels as f32;
    let data_health = health.clone();
    let err_health = health.clone();
    let counters = shared.clone();
    let stream = dev
        .build_input_stream::<T, _, _>(
            *config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                data_health.last_data_ms.store(
                    data_health.epoch.elapsed().as_millis() as u64,
                    Ordering::Relaxed,
                );
                let mut lost = 0u64;
                for frame in data.chunks_exact(channels) {
                    let v: f32 = frame.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() * inv;
                    if producer.push(v).is_err() {
                        lost += 1;
                    }
                }
                if lost > 0 {
                    counters.dropped.fetch_add(lost, Ordering::Relaxed);
                }
            },
            move |e: cpal::Error| {
                *lock(&err_health.failed) = Some(e.to_string());
            },
            Some(Duration::from_secs(3)),
        )
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| 0.5 * (i as f32 * 2.0 * std::f32::consts::PI * hz / rate as f32).sin())
            .collect()
    }

    /// Zero crossings per second of a signal: 2 × its frequency for a pure tone.
    fn crossings_per_sec(x: &[f32], rate: u32) -> f32 {
        let n = x
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        n as f32 * rate as f32 / x.len() as f32
    }

    #[test]
    fn converter_resamples_in_pieces_of_any_size() {
        for rate in [44_100u32, 48_000, 22_050, 8_000] {
            let input = tone(rate, 440.0, 2.0);
            let mut conv = Converter::new(rate).unwrap();
            let mut out = Vec::new();
            for piece in input.chunks(333) {
                conv.push(piece, &mut out).unwrap();
            }
            let expected = 2 * TARGET_SAMPLE_RATE as usize;
            // Whatever is short of a whole input chunk waits for the next callback.
            assert!(
                out.len() <= expected && out.len() + 1200 >= expected,
                "{rate}: {}",
                out.len()
            );
            let steady = &out[1600..out.len() - 800];
            let f = crossings_per_sec(steady, TARGET_SAMPLE_RATE) / 2.0;
            assert!(
                (f - 440.0).abs() < 5.0,
                "{rate} Hz: a 440 Hz tone came out at {f} Hz"
            );
        }
    }

    #[test]
    fn converter_removes_what_16_khz_cannot_hold() {
        // 7 kHz is below the new Nyquist (8 kHz) and stays; 12 kHz must not alias down to 4 kHz.
        let mut conv = Converter::new(48_000).unwrap();
        let mut out = Vec::new();
        conv.push(&tone(48_000, 12_000.0, 1.0), &mut out).unwrap();
        let rms = (out[800..].iter().map(|v| v * v).sum::<f32>() / (out.len() - 800) as f32).sqrt();
        assert!(rms < 0.01, "12 kHz leaked through as {rms}");
    }

    #[test]
    fn native_16_khz_passes_through() {
        let mut conv = Converter::new(16_000).unwrap();
        let mut out = Vec::new();
        conv.push(&[0.1, 0.2, 0.3], &mut out).unwrap();
        assert_eq!(out, vec![0.1, 0.2, 0.3]);
    }
}
