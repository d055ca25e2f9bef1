//! Generated background noise for the spoken test set, deterministic from a seed, 16 kHz:
//! road (low-passed brown noise with a rumble), fan (pink noise with a mains hum), music
//! (synthetic chords) and babble (several espeak-ng voices talking over each other), and the
//! mixing of speech with noise at a given signal-to-noise ratio.

use std::f32::consts::PI;

const RATE: f32 = 16_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    Road,
    Fan,
    Music,
    Babble,
}

impl Noise {
    pub const ALL: [Noise; 4] = [Noise::Road, Noise::Fan, Noise::Music, Noise::Babble];

    pub fn name(self) -> &'static str {
        match self {
            Noise::Road => "road",
            Noise::Fan => "fan",
            Noise::Music => "music",
            Noise::Babble => "babble",
        }
    }
}

/// xorshift64*: reproducible noise without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

pub fn rms(s: &[f32]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
}

fn one_pole_lowpass(s: &mut [f32], cutoff_hz: f32) {
    let a = (-2.0 * PI * cutoff_hz / RATE).exp();
    let mut y = 0.0;
    for x in s.iter_mut() {
        y = (1.0 - a) * *x + a * y;
        *x = y;
    }
}

/// Road: brown noise (leaky-integrated white), low-passed at 400 Hz, with a 35 Hz rumble that
/// rises and falls like tyres on a seamed road.
fn road(n: usize, rng: &mut Rng) -> Vec<f32> {
    let mut s = Vec::with_capacity(n);
    let mut b = 0.0f32;
    for i in 0..n {
        b = 0.995 * b + 0.05 * rng.uniform();
        let t = i as f32 / RATE;
        s.push(b + 0.05 * (2.0 * PI * 35.0 * t).sin() * (1.0 + 0.5 * (2.0 * PI * 0.7 * t).sin()));
    }
    one_pole_lowpass(&mut s, 400.0);
    s
}

/// Fan: pink noise (Paul Kellet's filter) with a 100 Hz hum and its harmonics.
fn fan(n: usize, rng: &mut Rng) -> Vec<f32> {
    let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
    (0..n)
        .map(|i| {
            let w = rng.uniform();
            b0 = 0.99765 * b0 + w * 0.099_046;
            b1 = 0.96300 * b1 + w * 0.296_516_4;
            b2 = 0.57000 * b2 + w * 1.052_691_3;
            let pink = (b0 + b1 + b2 + w * 0.1848) * 0.2;
            let t = i as f32 / RATE;
            let hum: f32 = [(100.0, 0.06), (200.0, 0.03), (300.0, 0.015)]
                .iter()
                .map(|(f, a)| a * (2.0 * PI * f * t).sin())
                .sum();
            pink + hum
        })
        .collect()
}

/// Music: a chord progression (triads with a few harmonics each), a new chord every 0.6 s
/// with a soft attack and decay, over a plucked bass.
fn music(n: usize, rng: &mut Rng) -> Vec<f32> {
    const ROOTS: [f32; 6] = [220.0, 174.61, 261.63, 196.0, 246.94, 164.81];
    let chord_len = (0.6 * RATE) as usize;
    let offset = (rng.next_u64() % 6) as usize;
    (0..n)
        .map(|i| {
            let c = i / chord_len + offset;
            let root = ROOTS[c % ROOTS.len()];
            let minor = c % 3 == 1;
            let third = if minor { 1.189 } else { 1.26 };
            let local = (i % chord_len) as f32 / RATE;
            let env = (local * 40.0).min(1.0) * (-local * 2.5).exp();
            let t = i as f32 / RATE;
            let mut v = 0.0;
            for ratio in [1.0, third, 1.498] {
                let f = root * ratio;
                v += (2.0 * PI * f * t).sin()
                    + 0.4 * (4.0 * PI * f * t).sin()
                    + 0.2 * (6.0 * PI * f * t).sin();
            }
            v * env * 0.2 + 0.3 * env * (2.0 * PI * root / 2.0 * t).sin()
        })
        .collect()
}

/// `n` samples of noise of `kind`; `babble` is a long recording of overlapped voices to cut
/// from (see the test set), needed only for [`Noise::Babble`].
pub fn generate(kind: Noise, n: usize, seed: u64, babble: &[f32]) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    match kind {
        Noise::Road => road(n, &mut rng),
        Noise::Fan => fan(n, &mut rng),
        Noise::Music => music(n, &mut rng),
        Noise::Babble => {
            if babble.is_empty() {
                return vec![0.0; n];
            }
            let start = (rng.next_u64() % babble.len() as u64) as usize;
            (0..n).map(|i| babble[(start + i) % babble.len()]).collect()
        }
    }
}

/// Several voices over each other: each track is added at its own offset and loudness.
pub fn overlap(tracks: &[Vec<f32>], len: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; len];
    for (k, t) in tracks.iter().enumerate() {
        if t.is_empty() {
            continue;
        }
        let offset = k * len / tracks.len().max(1);
        let gain = 1.0 / (1.0 + 0.3 * k as f32);
        for (i, o) in out.iter_mut().enumerate() {
            *o += gain * t[(i + offset) % t.len()];
        }
    }
    out
}

/// The speech level: RMS over the 20 ms frames that are within 30 dB of the loudest, so the
/// leading and trailing silence of a clip do not lower it.
fn speech_rms(speech: &[f32]) -> f32 {
    let frames: Vec<f32> = speech.chunks(320).map(rms).collect();
    let peak = frames.iter().fold(0.0f32, |m, &f| m.max(f));
    let active: Vec<f32> = frames.into_iter().filter(|&f| f > peak * 0.0316).collect();
    if active.is_empty() {
        return 0.0;
    }
    (active.iter().map(|f| f * f).sum::<f32>() / active.len() as f32).sqrt()
}

/// `speech` with `noise` added at `snr_db` (`None`: clean), scaled down if it would clip.
pub fn mix(speech: &[f32], noise: &[f32], snr_db: Option<f32>) -> Vec<f32> {
    let Some(snr) = snr_db else {
        return speech.to_vec();
    };
    let (s, n) = (speech_rms(speech), rms(noise));
    if s == 0.0 || n == 0.0 {
        return speech.to_vec();
    }
    let gain = s / (n * 10f32.powf(snr / 20.0));
    let mut out: Vec<f32> = speech
        .iter()
        .zip(noise.iter().chain(std::iter::repeat(&0.0)))
        .map(|(a, b)| a + gain * b)
        .collect();
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if peak > 0.99 {
        out.iter_mut().for_each(|x| *x *= 0.99 / peak);
    }
    out
}
