//! End-of-speech segmentation: per-frame speech probabilities in, speech start / end events out.
//!
//! Pure logic with no audio or model, so it is unit-tested with made-up probability tracks.
//! The rules follow Silero's own `get_speech_timestamps`: speech starts at `threshold`, ends
//! only below `threshold - 0.15` (hysteresis, so a probability hovering at the threshold does
//! not flap), needs `min_speech_ms` to count and `end_silence_ms` of silence to end. The start
//! is reported `pre_roll_ms` early, so the recogniser also gets the soft onset the VAD missed.

/// Segmenter settings. Times are in milliseconds of audio.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmenterConfig {
    /// Probability at or above which a frame is speech.
    pub threshold: f32,
    /// Probability below which a frame is silence; between the two the state does not change.
    pub neg_threshold: f32,
    /// Speech shorter than this (a cough, a door) is ignored.
    pub min_speech_ms: u32,
    /// Silence that ends an utterance (the end-of-speech timeout).
    pub end_silence_ms: u32,
    /// Audio before the detected start that belongs to the segment.
    pub pre_roll_ms: u32,
    /// Audio after the last speech frame that belongs to the segment.
    pub post_roll_ms: u32,
    /// Samples per probability (512 for Silero at 16 kHz).
    pub frame_samples: usize,
    pub sample_rate: u32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            neg_threshold: 0.35,
            min_speech_ms: 250,
            end_silence_ms: 700,
            pre_roll_ms: 300,
            post_roll_ms: 100,
            frame_samples: super::vad::FRAME_SAMPLES,
            sample_rate: super::SAMPLE_RATE,
        }
    }
}

/// A stretch of speech, as sample offsets from the start of the stream (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechSegment {
    pub start: usize,
    pub end: usize,
}

impl SpeechSegment {
    pub fn duration_ms(&self, sample_rate: u32) -> u64 {
        (self.end.saturating_sub(self.start) as u64) * 1000 / u64::from(sample_rate.max(1))
    }
}

/// What the segmenter saw after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech has lasted `min_speech_ms`; it began at sample `start` (pre-roll included).
    Start { start: usize },
    /// The utterance ended after `end_silence_ms` of silence (or at [`VadSegmenter::finish`]).
    End(SpeechSegment),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Silence,
    /// Speech-like frames since `since`, not yet long enough to count.
    Maybe {
        since: usize,
    },
    Speech {
        start: usize,
        silence_since: Option<usize>,
    },
}

/// Streaming segmenter; feed one probability per frame with [`push`](Self::push).
#[derive(Debug, Clone)]
pub struct VadSegmenter {
    config: SegmenterConfig,
    state: State,
    /// Samples consumed so far (the end of the last pushed frame).
    pos: usize,
}

impl VadSegmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        Self {
            config,
            state: State::Silence,
            pos: 0,
        }
    }

    pub fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    /// True while inside a confirmed speech segment.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    fn samples(&self, ms: u32) -> usize {
        (u64::from(ms) * u64::from(self.config.sample_rate) / 1000) as usize
    }

    /// Consume the probability of the next frame.
    pub fn push(&mut self, prob: f32) -> Option<VadEvent> {
        let frame_start = self.pos;
        self.pos += self.config.frame_samples;
        let speech = prob >= self.config.threshold;
        let silence = prob < self.config.neg_threshold;
        match self.state {
            State::Silence => {
                if speech {
                    self.state = State::Maybe { since: frame_start };
                    return self.confirm();
                }
                None
            }
            State::Maybe { .. } => {
                if silence {
                    self.state = State::Silence;
                    return None;
                }
                self.confirm()
            }
            State::Speech {
                start,
                silence_since,
            } => {
                if speech {
                    self.state = State::Speech {
                        start,
                        silence_since: None,
                    };
                } else if silence {
                    let since = silence_since.unwrap_or(frame_start);
                    if self.pos - since >= self.samples(self.config.end_silence_ms) {
                        let end = (since + self.samples(self.config.post_roll_ms)).min(self.pos);
                        self.state = State::Silence;
                        return Some(VadEvent::End(SpeechSegment { start, end }));
                    }
                    self.state = State::Speech {
                        start,
                        silence_since: Some(since),
                    };
                }
                None
            }
        }
    }

    /// Promote `Maybe` to `Speech` once it has lasted `min_speech_ms`.
    fn confirm(&mut self) -> Option<VadEvent> {
        if let State::Maybe { since } = self.state {
            if self.pos - since >= self.samples(self.config.min_speech_ms).max(1) {
                let start = since.saturating_sub(self.samples(self.config.pre_roll_ms));
                self.state = State::Speech {
                    start,
                    silence_since: None,
                };
                return Some(VadEvent::Start { start });
            }
        }
        None
    }

    /// End of stream: close an open segment (its end is where trailing silence began).
    pub fn finish(&mut self) -> Option<VadEvent> {
        let state = std::mem::replace(&mut self.state, State::Silence);
        match state {
            State::Speech {
                start,
                silence_since,
            } => {
                let end = silence_since
                    .map(|s| (s + self.samples(self.config.post_roll_ms)).min(self.pos))
                    .unwrap_or(self.pos);
                Some(VadEvent::End(SpeechSegment { start, end }))
            }
            _ => None,
        }
    }

    /// Start over at sample 0.
    pub fn reset(&mut self) {
        self.state = State::Silence;
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 ms frames; 250 ms min speech = 8 frames; 700 ms end silence = 22 frames.
    fn run(probs: &[f32]) -> Vec<VadEvent> {
        let mut seg = VadSegmenter::new(SegmenterConfig::default());
        let mut out: Vec<VadEvent> = probs.iter().filter_map(|&p| seg.push(p)).collect();
        out.extend(seg.finish());
        out
    }

    fn track(parts: &[(f32, usize)]) -> Vec<f32> {
        parts
            .iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .collect()
    }

    #[test]
    fn silence_gives_nothing() {
        assert!(run(&track(&[(0.05, 200)])).is_empty());
    }

    #[test]
    fn one_utterance_with_pre_roll() {
        let events = run(&track(&[(0.0, 50), (0.9, 60), (0.0, 40)]));
        // Speech begins at frame 50 = sample 25600; 300 ms pre-roll = 4800 samples.
        assert_eq!(
            events[0],
            VadEvent::Start {
                start: 25_600 - 4_800
            }
        );
        // Silence begins at frame 110 = sample 56320, plus 100 ms post-roll.
        assert_eq!(
            events[1],
            VadEvent::End(SpeechSegment {
                start: 20_800,
                end: 56_320 + 1_600
            })
        );
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn start_reported_only_after_min_speech() {
        let mut seg = VadSegmenter::new(SegmenterConfig::default());
        for i in 0..7 {
            assert_eq!(
                seg.push(0.9),
                None,
                "frame {i} is shorter than 250 ms of speech"
            );
        }
        assert!(matches!(seg.push(0.9), Some(VadEvent::Start { start: 0 })));
    }

    #[test]
    fn short_blip_is_ignored() {
        assert!(run(&track(&[(0.0, 20), (0.95, 4), (0.0, 60)])).is_empty());
    }

    #[test]
    fn short_pause_does_not_split_utterance() {
        // A 320 ms pause (10 frames) is shorter than the 700 ms end-of-speech silence.
        let events = run(&track(&[(0.9, 30), (0.1, 10), (0.9, 30), (0.0, 40)]));
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(events[1], VadEvent::End(s) if s.start == 0 && s.end == 70 * 512 + 1_600));
    }

    #[test]
    fn long_pause_splits_utterances() {
        let events = run(&track(&[(0.9, 30), (0.1, 40), (0.9, 30), (0.0, 40)]));
        let ends = events
            .iter()
            .filter(|e| matches!(e, VadEvent::End(_)))
            .count();
        assert_eq!(ends, 2, "{events:?}");
    }

    #[test]
    fn hysteresis_keeps_speech_between_thresholds() {
        // 0.4 is below the start threshold but above the end threshold: speech continues.
        let events = run(&track(&[(0.9, 20), (0.4, 60), (0.0, 30)]));
        assert_eq!(events.len(), 2);
        assert!(matches!(events[1], VadEvent::End(s) if s.end == 80 * 512 + 1_600));
    }

    #[test]
    fn finish_closes_open_segment() {
        let events = run(&track(&[(0.0, 10), (0.9, 20)]));
        assert_eq!(
            events.last(),
            Some(&VadEvent::End(SpeechSegment {
                start: 10 * 512 - 4_800,
                end: 30 * 512
            }))
        );
    }

    #[test]
    fn pre_roll_is_clamped_at_stream_start() {
        let events = run(&track(&[(0.0, 2), (0.9, 20)]));
        assert_eq!(events[0], VadEvent::Start { start: 0 });
    }
}
