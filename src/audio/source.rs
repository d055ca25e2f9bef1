//! The audio a listening loop reads: the live microphone ([`super::Microphone`]), audio an
//! embedding app captures and pushes ([`PushSource`], Android's `AudioRecord`), or recorded
//! audio played as if live ([`ClipSource`]), so the loop is tested on real speech without a
//! sound server.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::capture::{CaptureError, Converter};

/// Where the listening loop gets 16 kHz mono audio: the [`super::Microphone`], or a WAV file in tests
/// ([`ClipSource`]), so the loop is tested on real speech without a sound server.
pub trait AudioSource: Send {
    /// Appends the audio that arrived since the last call to `out`, waiting up to `wait` when
    /// none has. Returns how many samples were appended (0 after a quiet wait).
    fn read(&mut self, out: &mut Vec<f32>, wait: Duration) -> Result<usize, CaptureError>;
    /// Throws away audio captured so far.
    fn flush(&mut self) -> Result<(), CaptureError>;
    /// Samples lost so far because the reader fell behind.
    fn dropped_samples(&self) -> u64 {
        0
    }
    /// Gives back `samples` just read, to be read again first: a reader that took audio meant
    /// for another (the wake-word loop, when push-to-talk starts while it waits) returns it.
    /// A live microphone drops them (its next capture flushes anyway); the default does.
    fn unread(&mut self, samples: &[f32]) {
        let _ = samples;
    }
}

/// Recorded audio played as if live: each read returns the next `chunk` samples (then
/// silence forever, like a quiet room); `flush` does not skip anything, so a test decides
/// exactly what is heard.
pub struct ClipSource {
    samples: Vec<f32>,
    pos: usize,
    chunk: usize,
}

impl ClipSource {
    /// `samples` at 16 kHz mono, handed out `chunk` at a time.
    pub fn new(samples: Vec<f32>, chunk: usize) -> ClipSource {
        ClipSource {
            samples,
            pos: 0,
            chunk: chunk.max(1),
        }
    }

    /// Samples handed out so far (silence after the end included).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl AudioSource for ClipSource {
    fn read(&mut self, out: &mut Vec<f32>, _wait: Duration) -> Result<usize, CaptureError> {
        let end = self.pos + self.chunk;
        for i in self.pos..end {
            out.push(self.samples.get(i).copied().unwrap_or(0.0));
        }
        self.pos = end;
        Ok(self.chunk)
    }

    fn flush(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }
}

/// Most pushed audio kept while nobody reads it (30 s at 16 kHz); older audio is dropped.
const PUSH_CAPACITY: usize = 30 * 16_000;

struct Pushed {
    /// 16 kHz mono, oldest first.
    samples: VecDeque<f32>,
    converter: Option<Converter>,
    dropped: u64,
}

impl Pushed {
    /// Drops the oldest samples beyond [`PUSH_CAPACITY`], counting them.
    fn keep_capacity(&mut self) {
        let excess = self.samples.len().saturating_sub(PUSH_CAPACITY);
        if excess > 0 {
            self.samples.drain(..excess);
            self.dropped += excess as u64;
        }
    }
}

struct PushShared {
    pushed: Mutex<Pushed>,
    arrived: Condvar,
}

impl PushShared {
    fn lock(&self) -> MutexGuard<'_, Pushed> {
        self.pushed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Audio an app captures itself and pushes ([`AudioPusher::push`]), read by the listening loop
/// like a microphone. `flush` keeps what was pushed: the app decides what is heard
/// ([`AudioPusher::clear`] when push-to-talk starts).
pub struct PushSource {
    shared: Arc<PushShared>,
}

/// The app's side of a [`PushSource`]; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct AudioPusher {
    shared: Arc<PushShared>,
}

/// A source an app pushes audio into, and its pushing side.
pub fn push_source() -> (PushSource, AudioPusher) {
    let shared = Arc::new(PushShared {
        pushed: Mutex::new(Pushed {
            samples: VecDeque::new(),
            converter: None,
            dropped: 0,
        }),
        arrived: Condvar::new(),
    });
    (
        PushSource {
            shared: shared.clone(),
        },
        AudioPusher { shared },
    )
}

impl AudioPusher {
    /// Appends 16-bit mono PCM at `sample_rate` Hz (resampled to 16 kHz with the microphone's
    /// band-limited resampler; a change of rate starts a new one).
    pub fn push(&self, pcm: &[i16], sample_rate: u32) -> Result<(), CaptureError> {
        if !(8_000..=192_000).contains(&sample_rate) {
            return Err(CaptureError::Resample {
                from: sample_rate,
                reason: "the sample rate must be between 8000 and 192000 Hz".into(),
            });
        }
        let native: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let mut out = Vec::with_capacity(native.len());
        let mut pushed = self.shared.lock();
        if pushed.converter.as_ref().map(Converter::rate) != Some(sample_rate) {
            pushed.converter = Some(Converter::new(sample_rate)?);
        }
        if let Some(converter) = pushed.converter.as_mut() {
            converter.push(&native, &mut out)?;
        }
        pushed.samples.extend(out);
        pushed.keep_capacity();
        drop(pushed);
        self.shared.arrived.notify_all();
        Ok(())
    }

    /// Forgets what was pushed and not read yet.
    pub fn clear(&self) {
        self.shared.lock().samples.clear();
    }
}

impl AudioSource for PushSource {
    fn read(&mut self, out: &mut Vec<f32>, wait: Duration) -> Result<usize, CaptureError> {
        let mut pushed = self.shared.lock();
        if pushed.samples.is_empty() {
            pushed = self
                .shared
                .arrived
                .wait_timeout_while(pushed, wait, |p| p.samples.is_empty())
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let n = pushed.samples.len();
        out.extend(pushed.samples.drain(..));
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    fn dropped_samples(&self) -> u64 {
        self.shared.lock().dropped
    }

    fn unread(&mut self, samples: &[f32]) {
        let mut pushed = self.shared.lock();
        for &s in samples.iter().rev() {
            pushed.samples.push_front(s);
        }
        pushed.keep_capacity();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_source_plays_then_is_silent() {
        let mut src = ClipSource::new(vec![1.0; 5], 4);
        let mut out = Vec::new();
        src.read(&mut out, Duration::ZERO).unwrap();
        src.read(&mut out, Duration::ZERO).unwrap();
        assert_eq!(out, vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn unread_pushed_audio_is_read_again_first() {
        let (mut source, pusher) = push_source();
        pusher.push(&[1000i16; 1600], 16_000).unwrap();
        let mut first = Vec::new();
        source.read(&mut first, Duration::ZERO).unwrap();
        pusher.push(&[2000i16; 160], 16_000).unwrap();
        source.unread(&first);
        let mut again = Vec::new();
        source.read(&mut again, Duration::ZERO).unwrap();
        assert_eq!(again.len(), first.len() + 160);
        assert_eq!(&again[..first.len()], &first[..]);
    }

    #[test]
    fn pushed_48khz_audio_is_read_at_16khz() {
        let (mut source, pusher) = push_source();
        let pcm = vec![1000i16; 48_000];
        for chunk in pcm.chunks(480) {
            pusher.push(chunk, 48_000).unwrap();
        }
        let mut out = Vec::new();
        source.read(&mut out, Duration::ZERO).unwrap();
        // The resampler holds back less than one input chunk (20 ms).
        assert!((15_600..=16_000).contains(&out.len()), "{}", out.len());
        assert!(pusher.push(&pcm[..10], 1).is_err());
        pusher.clear();
        assert_eq!(source.read(&mut out, Duration::ZERO).unwrap(), 0);
    }
}
