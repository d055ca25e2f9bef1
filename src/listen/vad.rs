//! Voice activity detection: a speech probability for each 32 ms frame (512 samples at 16 kHz).
//!
//! [`SileroVad`] runs Silero VAD v5 (MIT) through ONNX Runtime. [`EnergyVad`] is a model-free
//! fallback, so a device whose VAD model is missing still ends utterances instead of
//! listening forever. Both implement [`VoiceActivityDetector`]; [`super::VadSegmenter`] turns
//! their probabilities into speech segments.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::{open_session, ListenError, SAMPLE_RATE};

/// Samples per frame for every detector here (32 ms at 16 kHz, Silero v5's native frame).
pub const FRAME_SAMPLES: usize = 512;

/// A per-frame speech detector. Frames are [`FRAME_SAMPLES`] samples of 16 kHz mono audio in
/// [-1, 1], fed in stream order; the detector keeps whatever state it needs between frames.
pub trait VoiceActivityDetector: Send {
    /// Probability in [0, 1] that this frame contains speech.
    fn process(&mut self, frame: &[f32]) -> Result<f32, ListenError>;
    /// Forget the stream so far (call between unrelated streams, e.g. after a turn ends).
    fn reset(&mut self);
}

const WHAT: &str = "voice activity (Silero VAD)";
/// Silero v5 at 16 kHz prepends the last 64 samples of the previous frame to each frame; the
/// model was trained that way and scores noticeably worse without it.
const CONTEXT: usize = 64;
/// Recurrent state: [2, batch = 1, 128].
const STATE_LEN: usize = 2 * 128;

/// Streaming Silero VAD v5.
pub struct SileroVad {
    session: Session,
    path: PathBuf,
    state: Vec<f32>,
    /// `context ++ frame`, reused between calls; the first [`CONTEXT`] values are the tail of
    /// the previous frame (zeros after [`reset`](Self::reset)).
    input: Vec<f32>,
}

impl SileroVad {
    /// Load the model (e.g. `<models>/vad/silero_vad.onnx`). ONNX Runtime must be loaded first
    /// with [`crate::onnx::init`].
    pub fn load(path: &Path) -> Result<Self, ListenError> {
        let session = open_session(WHAT, path)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if !(names.contains(&"input") && names.contains(&"state") && names.contains(&"sr")) {
            return Err(ListenError::BadOutput {
                what: WHAT,
                path: path.to_path_buf(),
                detail: format!("inputs are {names:?}, expected input, state, sr (Silero VAD v5)"),
            });
        }
        Ok(Self {
            session,
            path: path.to_path_buf(),
            state: vec![0.0; STATE_LEN],
            input: vec![0.0; CONTEXT + FRAME_SAMPLES],
        })
    }

    /// Speech probability of the next 512-sample frame.
    pub fn process(&mut self, frame: &[f32]) -> Result<f32, ListenError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(ListenError::FrameSize {
                what: WHAT,
                expected: FRAME_SAMPLES,
                got: frame.len(),
            });
        }
        self.input[CONTEXT..].copy_from_slice(frame);
        let run_err = |source: ort::Error| ListenError::Inference {
            what: WHAT,
            path: self.path.clone(),
            source,
        };
        let input =
            TensorRef::from_array_view(([1usize, CONTEXT + FRAME_SAMPLES], self.input.as_slice()))
                .map_err(run_err)?;
        let state = TensorRef::from_array_view(([2usize, 1, 128], self.state.as_slice()))
            .map_err(run_err)?;
        let sr =
            ort::value::Tensor::from_array(((), vec![i64::from(SAMPLE_RATE)])).map_err(run_err)?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => input, "state" => state, "sr" => sr])
            .map_err(|source| ListenError::Inference {
                what: WHAT,
                path: self.path.clone(),
                source,
            })?;

        let bad = |detail: String| ListenError::BadOutput {
            what: WHAT,
            path: self.path.clone(),
            detail,
        };
        let prob = match outputs.get("output").map(|v| v.try_extract_tensor::<f32>()) {
            Some(Ok((_, data))) if !data.is_empty() => data[0],
            _ => return Err(bad("no f32 `output`".into())),
        };
        match outputs.get("stateN").map(|v| v.try_extract_tensor::<f32>()) {
            Some(Ok((_, data))) if data.len() == STATE_LEN => self.state.copy_from_slice(data),
            _ => return Err(bad(format!("no f32 `stateN` of {STATE_LEN} values"))),
        }
        drop(outputs);
        // The last 64 samples of this frame are the next frame's context.
        self.input.copy_within(FRAME_SAMPLES.., 0);
        Ok(prob)
    }

    /// Forget the stream: zero the recurrent state and the context.
    pub fn reset(&mut self) {
        self.state.fill(0.0);
        self.input.fill(0.0);
    }
}

impl VoiceActivityDetector for SileroVad {
    fn process(&mut self, frame: &[f32]) -> Result<f32, ListenError> {
        SileroVad::process(self, frame)
    }
    fn reset(&mut self) {
        SileroVad::reset(self)
    }
}

/// Model-free fallback: frame energy against a tracked noise floor.
///
/// It cannot tell speech from a loud fan or road noise the way Silero can, so it is only used
/// when the VAD model is missing. The noise floor follows quiet frames quickly and loud frames
/// slowly, so steady background noise stops counting as speech after a few seconds.
#[derive(Debug, Clone)]
pub struct EnergyVad {
    /// Current noise floor estimate in dBFS.
    floor_db: f32,
    /// dB above the floor where the probability crosses 0.5.
    margin_db: f32,
    /// Frames quieter than this (dBFS) are never speech, however low the floor.
    min_speech_db: f32,
}

impl Default for EnergyVad {
    fn default() -> Self {
        Self::new()
    }
}

impl EnergyVad {
    const INITIAL_FLOOR_DB: f32 = -60.0;

    pub fn new() -> Self {
        Self {
            floor_db: Self::INITIAL_FLOOR_DB,
            margin_db: 12.0,
            min_speech_db: -45.0,
        }
    }

    /// Speech probability of one frame (any length; [`FRAME_SAMPLES`] is the convention).
    pub fn process(&mut self, frame: &[f32]) -> f32 {
        if frame.is_empty() {
            return 0.0;
        }
        let energy = frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32;
        let db = 10.0 * (energy + 1e-10).log10();
        // Asymmetric tracking: fall fast to quiet levels, rise slowly (about 0.05 dB per frame,
        // i.e. 1.5 dB/s) so speech does not lift the floor within an utterance.
        if db < self.floor_db {
            self.floor_db += 0.5 * (db - self.floor_db);
        } else {
            self.floor_db += 0.05_f32.min(db - self.floor_db);
        }
        let floor = self.floor_db.max(-80.0);
        let above = db - (floor + self.margin_db);
        let gate = db - self.min_speech_db;
        // Logistic in dB: +6 dB over the mark gives about 0.95.
        let logistic = |x: f32| 1.0 / (1.0 + (-x / 2.0).exp());
        logistic(above).min(logistic(gate))
    }

    pub fn reset(&mut self) {
        self.floor_db = Self::INITIAL_FLOOR_DB;
    }
}

impl VoiceActivityDetector for EnergyVad {
    fn process(&mut self, frame: &[f32]) -> Result<f32, ListenError> {
        Ok(EnergyVad::process(self, frame))
    }
    fn reset(&mut self) {
        EnergyVad::reset(self)
    }
}

/// The VAD to use for a models directory: Silero when its file exists, otherwise the energy
/// fallback (with a warning, so `skylark doctor` and the journal show why endpointing is worse).
pub fn detector_for(models_dir: &Path) -> Result<Box<dyn VoiceActivityDetector>, ListenError> {
    let path = models_dir.join("vad/silero_vad.onnx");
    if path.is_file() {
        Ok(Box::new(SileroVad::load(&path)?))
    } else {
        tracing::warn!(path = %path.display(), "Silero VAD model missing; using the energy detector. Run `skylark models fetch`.");
        Ok(Box::new(EnergyVad::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(amp: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 16_000.0).sin())
            .collect()
    }

    #[test]
    fn energy_vad_silence_is_not_speech() {
        let mut vad = EnergyVad::new();
        for _ in 0..50 {
            assert!(vad.process(&[0.0; FRAME_SAMPLES]) < 0.1);
        }
    }

    #[test]
    fn energy_vad_loud_tone_after_quiet_is_speech() {
        let mut vad = EnergyVad::new();
        // Quiet room noise around -60 dBFS.
        let quiet: Vec<f32> = (0..FRAME_SAMPLES)
            .map(|i| if i % 2 == 0 { 0.001 } else { -0.001 })
            .collect();
        for _ in 0..30 {
            assert!(vad.process(&quiet) < 0.1);
        }
        let loud = sine(0.3, FRAME_SAMPLES);
        assert!(vad.process(&loud) > 0.9);
    }

    #[test]
    fn energy_vad_adapts_to_steady_noise() {
        let mut vad = EnergyVad::new();
        let noise = sine(0.05, FRAME_SAMPLES); // about -29 dBFS, steady
        let first = vad.process(&noise);
        let mut last = first;
        for _ in 0..2000 {
            last = vad.process(&noise);
        }
        assert!(first > 0.9, "a sudden sound starts as speech ({first})");
        assert!(last < 0.5, "a steady sound becomes background ({last})");
    }
}
