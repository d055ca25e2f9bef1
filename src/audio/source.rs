//! The audio a listening loop reads: the live microphone ([`super::Microphone`]) or recorded
//! audio played as if live ([`ClipSource`]), so the loop is tested on real speech without a
//! sound server.

use std::time::Duration;

use super::capture::CaptureError;

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
}
