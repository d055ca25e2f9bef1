//! The assistant's own voice, as the microphone will hear it: the played-energy reference and
//! the echo gate that barge-in listens through.
//!
//! The player publishes the energy of what it plays, one value per 10 ms with the time the
//! device took those samples ([`PlayedEnergy`], filled by [`Metered`], a rodio source wrapper).
//! On the microphone side, [`EchoGate`] predicts how much of a frame's energy is our own echo:
//! the played energy `lag` earlier (the loop delay: output buffer + room or loopback + capture
//! buffer) times a coupling gain. Both are learned while the assistant speaks: the lag as the
//! shift where the log-energy envelopes of the microphone and the reference correlate best,
//! the gain as a high percentile of the microphone / reference ratio. Only frames whose energy
//! is well above the predicted echo (`margin`) count as the user's voice.
//!
//! This is a gate, not an echo canceller: the microphone audio itself is not cleaned, so a
//! user talking more softly than the echo plus the margin is not heard until the assistant
//! stops. It is what the issue asks as the minimum; no maintained Rust AEC crate was found that
//! fits (see README § Barge-in).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use rodio::Source;

/// Length of one reference frame.
pub const REFERENCE_FRAME: Duration = Duration::from_millis(10);
/// How much reference is kept.
const REFERENCE_KEPT: Duration = Duration::from_secs(4);
/// The longest loop delay looked for (output buffering + loopback + capture buffering).
pub const MAX_LAG: Duration = Duration::from_millis(800);
/// Step of the delay search.
const LAG_STEP: Duration = Duration::from_millis(10);
/// Around a learned delay, the reference is taken over ± this (jitter of the buffers).
const LAG_SPREAD: Duration = Duration::from_millis(40);
/// Microphone history the delay and gain are learned from.
const HISTORY: Duration = Duration::from_secs(3);
/// Frames of loud reference needed before the learned figures replace the prior.
const MIN_LEARN_FRAMES: usize = 30;
/// Relearn the delay and gain every this many frames.
const LEARN_EVERY: usize = 16;
/// Smallest correlation of the envelopes that counts as a found delay.
const MIN_CORRELATION: f32 = 0.4;
/// Coupling assumed before anything is learned: the echo as loud as what is played.
const PRIOR_GAIN: f32 = 1.0;

/// The energy of what the speaker played, per 10 ms, with the time the device took it.
/// One per process (there is one output path): [`played`].
#[derive(Default)]
pub struct PlayedEnergy {
    frames: Mutex<VecDeque<(Instant, f32)>>,
    /// Playback volume (f32 bits) the reference is scaled by: the player applies it after the
    /// meter.
    volume: AtomicU32,
}

/// The process's played-energy reference.
pub fn played() -> &'static PlayedEnergy {
    static PLAYED: LazyLock<PlayedEnergy> = LazyLock::new(|| PlayedEnergy {
        frames: Mutex::new(VecDeque::new()),
        volume: AtomicU32::new(1.0f32.to_bits()),
    });
    &PLAYED
}

impl PlayedEnergy {
    /// A reference of one's own (tests).
    pub fn new() -> PlayedEnergy {
        PlayedEnergy {
            frames: Mutex::new(VecDeque::new()),
            volume: AtomicU32::new(1.0f32.to_bits()),
        }
    }

    /// Records that a frame of mean power `power` (of the samples as synthesised) was played at
    /// `at`.
    pub fn push(&self, at: Instant, power: f32) {
        let v = f32::from_bits(self.volume.load(Ordering::Relaxed));
        let mut frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        frames.push_back((at, power * v * v));
        while frames
            .front()
            .is_some_and(|(t, _)| at.saturating_duration_since(*t) > REFERENCE_KEPT)
        {
            frames.pop_front();
        }
    }

    /// The player's volume (0–1), which scales what is recorded from now on.
    pub fn set_volume(&self, volume: f32) {
        self.volume
            .store(volume.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// The loudest frame played in `[from, to]` (0 when nothing was).
    pub fn max_power(&self, from: Instant, to: Instant) -> f32 {
        let frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        // Windows are recent: walk back from the newest frame.
        frames
            .iter()
            .rev()
            .take_while(|(t, _)| *t >= from)
            .filter(|(t, _)| *t <= to)
            .map(|(_, p)| *p)
            .fold(0.0, f32::max)
    }

    /// When the last frame was played.
    pub fn last_played(&self) -> Option<Instant> {
        let frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        frames.back().map(|(t, _)| *t)
    }

    fn snapshot(&self) -> Vec<(Instant, f32)> {
        let frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        frames.iter().copied().collect()
    }
}

/// Loudest power among `frames` (sorted by time) taken in `[from, to]`; 0 for none.
fn max_in(frames: &[(Instant, f32)], from: Instant, to: Instant) -> f32 {
    let first = frames.partition_point(|(t, _)| *t < from);
    frames[first..]
        .iter()
        .take_while(|(t, _)| *t <= to)
        .map(|(_, p)| *p)
        .fold(0.0, f32::max)
}

/// A rodio source that reports the energy of what it hands the device to a [`PlayedEnergy`],
/// one value per 10 ms of its samples, stamped with the time the device pulled them.
pub struct Metered<S> {
    inner: S,
    reference: Arc<dyn Fn(Instant, f32) + Send + Sync>,
    per_frame: usize,
    count: usize,
    sum: f32,
}

impl<S: Source> Metered<S> {
    pub fn new(inner: S, reference: Arc<dyn Fn(Instant, f32) + Send + Sync>) -> Metered<S> {
        let rate = inner.sample_rate().get() as usize * usize::from(inner.channels().get());
        Metered {
            inner,
            reference,
            per_frame: (rate / 100).max(1),
            count: 0,
            sum: 0.0,
        }
    }
}

impl<S: Source> Iterator for Metered<S> {
    type Item = rodio::Sample;

    fn next(&mut self) -> Option<rodio::Sample> {
        let s = self.inner.next()?;
        self.sum += s * s;
        self.count += 1;
        if self.count == self.per_frame {
            (self.reference)(Instant::now(), self.sum / self.count as f32);
            self.count = 0;
            self.sum = 0.0;
        }
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S: Source> Source for Metered<S> {
    fn current_span_len(&self) -> Option<usize> {
        self.inner.current_span_len()
    }
    fn channels(&self) -> rodio::ChannelCount {
        self.inner.channels()
    }
    fn sample_rate(&self) -> rodio::SampleRate {
        self.inner.sample_rate()
    }
    fn total_duration(&self) -> Option<Duration> {
        self.inner.total_duration()
    }
}

/// What the gate made of one microphone frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    /// Mean power of the frame.
    pub power: f32,
    /// Predicted power of our own echo in it.
    pub echo: f32,
    /// Well above the echo (and above the floor): not our own voice.
    pub beyond_echo: bool,
}

/// Settings of the gate.
#[derive(Debug, Clone, Copy)]
pub struct GateConfig {
    /// How far above the predicted echo a frame must be, in dB.
    pub margin_db: f32,
    /// Frames quieter than this (dBFS of mean power) are never the user's voice.
    pub floor_db: f32,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            margin_db: 10.0,
            floor_db: -50.0,
        }
    }
}

/// The microphone side: judges frames against the played-energy reference, learning the loop
/// delay and the coupling gain as it goes. One per listening session (while the assistant
/// speaks).
pub struct EchoGate<'r> {
    reference: &'r PlayedEnergy,
    margin: f32,
    floor: f32,
    /// Microphone frames judged echo (not beyond it): (start, end, power). Frames beyond the
    /// echo (the user talking: "double talk") are left out, so talking does not teach the
    /// gate that the user is echo.
    history: VecDeque<(Instant, Instant, f32)>,
    lag: Option<Duration>,
    gain: f32,
    since_learned: usize,
}

impl<'r> EchoGate<'r> {
    pub fn new(reference: &'r PlayedEnergy, config: GateConfig) -> EchoGate<'r> {
        EchoGate {
            reference,
            margin: 10f32.powf(config.margin_db / 10.0),
            floor: 10f32.powf(config.floor_db / 10.0),
            history: VecDeque::new(),
            lag: None,
            gain: PRIOR_GAIN,
            since_learned: 0,
        }
    }

    /// The learned loop delay, once found.
    pub fn lag(&self) -> Option<Duration> {
        self.lag
    }

    /// The coupling gain in use (power ratio microphone / played).
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// The reference window for a microphone frame `[start, end]`.
    fn window(&self, start: Instant, end: Instant) -> (Instant, Instant) {
        match self.lag {
            Some(lag) => (
                start.checked_sub(lag + LAG_SPREAD).unwrap_or(start),
                end.checked_sub(lag.saturating_sub(LAG_SPREAD))
                    .unwrap_or(end),
            ),
            None => (start.checked_sub(MAX_LAG).unwrap_or(start), end),
        }
    }

    /// Judges the microphone frame `samples` that ended at `end`.
    pub fn judge(&mut self, samples: &[f32], end: Instant) -> Judged {
        let power = mean_power(samples);
        let start = end
            .checked_sub(Duration::from_secs_f64(samples.len() as f64 / 16_000.0))
            .unwrap_or(end);
        let (from, to) = self.window(start, end);
        let echo = self.gain * self.reference.max_power(from, to);
        let beyond_echo = power > self.floor && power > self.margin * echo;
        if !beyond_echo {
            self.history.push_back((start, end, power));
        }
        while self
            .history
            .front()
            .is_some_and(|(_, e, _)| end.saturating_duration_since(*e) > HISTORY)
        {
            self.history.pop_front();
        }
        self.since_learned += 1;
        if self.since_learned >= LEARN_EVERY {
            self.since_learned = 0;
            self.learn();
        }
        Judged {
            power,
            echo,
            beyond_echo,
        }
    }

    /// Re-estimates the delay (envelope correlation) and the gain (ratio percentile) from the
    /// history.
    fn learn(&mut self) {
        let reference = self.reference.snapshot();
        if reference.is_empty() {
            return;
        }
        let floor = self.floor;
        // Delay: correlation of log energies over the frames where something was played.
        let mut best: Option<(f32, Duration)> = None;
        let steps = (MAX_LAG.as_millis() / LAG_STEP.as_millis()) as u32;
        for step in 0..=steps {
            let lag = LAG_STEP * step;
            let mut xs = Vec::with_capacity(self.history.len());
            let mut ys = Vec::with_capacity(self.history.len());
            for (s, e, p) in &self.history {
                let (Some(from), Some(to)) = (s.checked_sub(lag), e.checked_sub(lag)) else {
                    continue;
                };
                let r = max_in(&reference, from, to);
                xs.push((p + 1e-9).log10());
                ys.push((r + 1e-9).log10());
            }
            if xs.len() < MIN_LEARN_FRAMES {
                continue;
            }
            if let Some(c) = correlation(&xs, &ys) {
                if best.is_none_or(|(b, _)| c > b) {
                    best = Some((c, lag));
                }
            }
        }
        if let Some((c, lag)) = best {
            if c >= MIN_CORRELATION {
                self.lag = Some(lag);
            }
        }
        // Gain: a high percentile of microphone / reference over frames with loud reference
        // (the user's own speech, a short part of the history, lands above it).
        let mut ratios: Vec<f32> = self
            .history
            .iter()
            .filter_map(|(s, e, p)| {
                let (from, to) = self.window(*s, *e);
                let r = max_in(&reference, from, to);
                (r > floor).then(|| p / r)
            })
            .collect();
        if ratios.len() >= MIN_LEARN_FRAMES {
            ratios.sort_by(f32::total_cmp);
            let at = (ratios.len() * 8 / 10).min(ratios.len() - 1);
            self.gain = ratios[at];
        }
    }
}

/// Mean power of samples (0 for none).
pub fn mean_power(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32
}

/// Pearson correlation, `None` when either side is constant.
fn correlation(xs: &[f32], ys: &[f32]) -> Option<f32> {
    let n = xs.len().min(ys.len()) as f32;
    if n < 2.0 {
        return None;
    }
    let mx = xs.iter().sum::<f32>() / n;
    let my = ys.iter().sum::<f32>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= f32::EPSILON || syy <= f32::EPSILON {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A speech-like envelope: 70 ms syllables of pseudo-random loudness, some silent.
    fn envelope(i: usize) -> f32 {
        let k = (i / 7) as u64;
        let r = (k.wrapping_mul(2_654_435_761) >> 7) % 1000;
        if r < 250 {
            0.0
        } else {
            r as f32 / 1000.0 * 0.08
        }
    }

    /// Plays an envelope into a reference and hears it back `delay` later at `gain`, adding
    /// `user` power to the microphone frames from frame `user_from`; returns the judgements.
    fn run(
        delay_ms: u64,
        gain: f32,
        user: f32,
        user_from: usize,
    ) -> (Vec<Judged>, EchoGate<'static>) {
        let reference: &'static PlayedEnergy = Box::leak(Box::new(PlayedEnergy::new()));
        let t0 = Instant::now();
        let frames = 400; // 4 s of 10 ms frames
        for i in 0..frames {
            reference.push(t0 + REFERENCE_FRAME * i as u32, envelope(i));
        }
        let mut gate = EchoGate::new(reference, GateConfig::default());
        let mut judged = Vec::new();
        // Microphone frames of 32 ms (512 samples), each filled with the echo's power.
        let mut t = t0 + Duration::from_millis(32);
        let mut k = 0;
        while t < t0 + Duration::from_millis(3900) {
            let echo_at = t
                .checked_sub(Duration::from_millis(delay_ms + 16))
                .unwrap_or(t0);
            let i = (echo_at.saturating_duration_since(t0).as_millis() / 10) as usize;
            let mut p = gain * envelope(i.min(frames - 1));
            if k >= user_from {
                p += user;
            }
            let amp = p.sqrt();
            let samples: Vec<f32> = (0..512)
                .map(|n| if n % 2 == 0 { amp } else { -amp })
                .collect();
            judged.push(gate.judge(&samples, t));
            t += Duration::from_millis(32);
            k += 1;
        }
        (judged, gate)
    }

    #[test]
    fn own_echo_alone_is_never_beyond_it_once_learned() {
        for (delay, gain) in [(0, 1.0), (120, 0.5), (300, 2.0), (600, 0.1)] {
            let (judged, gate) = run(delay, gain, 0.0, usize::MAX);
            // From the start the prior (gain 1 over the widest window) holds quiet echoes;
            // after learning, none is beyond.
            let late: Vec<_> = judged.iter().skip(40).filter(|j| j.beyond_echo).collect();
            assert!(late.is_empty(), "delay {delay} gain {gain}: {late:?}");
            let lag = gate.lag().expect("a delay found").as_millis() as i64;
            assert!(
                (lag - delay as i64).abs() <= 40,
                "delay {delay}: learned {lag}"
            );
        }
    }

    #[test]
    fn a_voice_louder_than_the_echo_is_beyond_it() {
        let (judged, _) = run(200, 0.3, 0.5, 80);
        let after: Vec<_> = judged.iter().skip(80).collect();
        assert!(after.iter().all(|j| j.beyond_echo), "{after:?}");
        assert!(!judged.iter().take(80).skip(40).any(|j| j.beyond_echo));
    }

    #[test]
    fn a_voice_as_soft_as_the_echo_is_not() {
        let (judged, _) = run(200, 1.0, 0.02, 80);
        let beyond = judged.iter().skip(80).filter(|j| j.beyond_echo).count();
        // It shows only in the gaps between the played syllables.
        assert!(beyond < judged.len() - 80, "{beyond}");
    }

    #[test]
    fn nothing_played_means_no_echo() {
        let reference = PlayedEnergy::new();
        let mut gate = EchoGate::new(&reference, GateConfig::default());
        let j = gate.judge(&[0.1; 512], Instant::now());
        assert_eq!(j.echo, 0.0);
        assert!(j.beyond_echo);
        let quiet = gate.judge(&[0.0001; 512], Instant::now());
        assert!(!quiet.beyond_echo, "below the floor");
    }

    #[test]
    fn metered_source_reports_10ms_frames() {
        let got: Arc<Mutex<Vec<f32>>> = Arc::default();
        let sink = got.clone();
        let buf = rodio::buffer::SamplesBuffer::new(
            std::num::NonZero::<u16>::MIN,
            std::num::NonZero::new(16_000).expect("rate"),
            vec![0.5f32; 1600],
        );
        let m = Metered::new(
            buf,
            Arc::new(move |_, p| sink.lock().expect("lock").push(p)),
        );
        assert_eq!(m.count(), 1600);
        let got = got.lock().expect("lock");
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|p| (p - 0.25).abs() < 1e-6));
    }
}
