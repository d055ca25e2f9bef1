//! Wake-word spotting, openWakeWord style: melspectrogram ONNX → speech-embedding ONNX over
//! 76-frame windows (stride 8 frames) → one small classifier per keyword over the last 16
//! embeddings.
//!
//! The feature pipeline (model inputs/outputs, the `x / 10 + 2` mel transform, window sizes,
//! [-1, 1] sample scaling) follows the `livekit-wakeword` crate 0.1.3
//! (Copyright 2026 LiveKit, Inc., Apache-2.0), which in turn follows openWakeWord. That crate
//! scores a 2 s buffer at a time; this one streams 80 ms chunks and keeps the mel frames and
//! embeddings between chunks, so each chunk costs one mel run over 110 ms of audio, one
//! embedding and one run per classifier. The mel frames lie on the same hop grid as the 2 s
//! batch's (hop 160, window 512, no centring): the first chunk of a stream gives 5 frames,
//! every later one 8 from the previous 480 samples plus the new 1280; embedding windows start
//! at multiples of 8 frames, as in the batch. Values differ only in near-silence, because the
//! mel model floors its output 80 dB below the loudest frame of each call; on the fixtures the
//! streamed score after 2 s equals the batch score to 1e-4 (`tests/wakeword_model.rs`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::{open_session, ListenError};

/// Samples per streaming chunk: 80 ms at 16 kHz.
pub const CHUNK_SAMPLES: usize = 1280;
/// Audio before a chunk that its mel frames also need: 3 hops (as openWakeWord uses), so
/// 1760 samples give exactly 8 new frames on the same hop grid as the earlier ones.
const CHUNK_CONTEXT: usize = 480;
pub const MEL_BINS: usize = 32;
pub const EMBEDDING_WINDOW: usize = 76;
pub const EMBEDDING_STRIDE: usize = 8;
pub const EMBEDDING_DIM: usize = 96;
/// Embeddings a classifier looks at (1.28 s of embedding hops, about 2 s of audio).
pub const CLASSIFIER_EMBEDDINGS: usize = 16;
/// Default time a keyword stays quiet after it fired, so one utterance is one detection.
pub const DEFAULT_REFRACTORY_MS: u32 = 2000;

const WHAT_MEL: &str = "wake-word melspectrogram";
const WHAT_EMB: &str = "wake-word embedding";
const WHAT_CLS: &str = "wake-word classifier";

/// A keyword that fired in the last processed audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub keyword: String,
    pub score: f32,
}

struct Classifier {
    keyword: String,
    path: PathBuf,
    session: Session,
    input_name: String,
    output_name: String,
    threshold: f32,
    /// Chunks left during which this keyword may not fire again.
    quiet_chunks: u32,
    last_score: f32,
}

/// Streaming wake-word detector for several keywords at once.
pub struct WakeWordDetector {
    mel: Session,
    mel_path: PathBuf,
    mel_output: String,
    emb: Session,
    emb_path: PathBuf,
    emb_output: String,
    classifiers: Vec<Classifier>,
    refractory_chunks: u32,
    /// Samples waiting for a full chunk.
    pending: Vec<f32>,
    /// The last [`CHUNK_CONTEXT`] samples of the previous chunk (empty at stream start).
    tail: Vec<f32>,
    /// Mel frames not yet fully consumed by embedding windows; `mel_start` is the absolute
    /// index of the first one.
    mel_frames: VecDeque<[f32; MEL_BINS]>,
    mel_start: usize,
    mel_total: usize,
    /// Absolute mel index where the next embedding window starts (a multiple of 8).
    next_window: usize,
    embeddings: VecDeque<[f32; EMBEDDING_DIM]>,
    window_buf: Vec<f32>,
    classifier_buf: Vec<f32>,
}

fn first_name(outlets: &[ort::value::Outlet]) -> Option<String> {
    outlets.first().map(|o| o.name().to_string())
}

impl WakeWordDetector {
    /// Load the shared feature models and one classifier per keyword:
    /// `(keyword, classifier_path, threshold)`. ONNX Runtime must be loaded first with
    /// [`crate::onnx::init`].
    pub fn load<K: AsRef<str>, P: AsRef<Path>>(
        mel_path: &Path,
        emb_path: &Path,
        keywords: &[(K, P, f32)],
    ) -> Result<Self, ListenError> {
        let mel = open_session(WHAT_MEL, mel_path)?;
        let emb = open_session(WHAT_EMB, emb_path)?;
        let missing = |what, path: &Path| ListenError::BadOutput {
            what,
            path: path.to_path_buf(),
            detail: "the model has no inputs or outputs".into(),
        };
        let mel_output = first_name(mel.outputs()).ok_or_else(|| missing(WHAT_MEL, mel_path))?;
        let emb_output = first_name(emb.outputs()).ok_or_else(|| missing(WHAT_EMB, emb_path))?;
        let mut classifiers = Vec::with_capacity(keywords.len());
        for (keyword, path, threshold) in keywords {
            let path = path.as_ref();
            let session = open_session(WHAT_CLS, path)?;
            let input_name = first_name(session.inputs()).ok_or_else(|| missing(WHAT_CLS, path))?;
            let output_name =
                first_name(session.outputs()).ok_or_else(|| missing(WHAT_CLS, path))?;
            classifiers.push(Classifier {
                keyword: keyword.as_ref().to_string(),
                path: path.to_path_buf(),
                session,
                input_name,
                output_name,
                threshold: *threshold,
                quiet_chunks: 0,
                last_score: 0.0,
            });
        }
        let mut detector = Self {
            mel,
            mel_path: mel_path.to_path_buf(),
            mel_output,
            emb,
            emb_path: emb_path.to_path_buf(),
            emb_output,
            classifiers,
            refractory_chunks: 0,
            pending: Vec::with_capacity(CHUNK_SAMPLES),
            tail: Vec::with_capacity(CHUNK_CONTEXT),
            mel_frames: VecDeque::new(),
            mel_start: 0,
            mel_total: 0,
            next_window: 0,
            embeddings: VecDeque::with_capacity(CLASSIFIER_EMBEDDINGS + 1),
            window_buf: vec![0.0; EMBEDDING_WINDOW * MEL_BINS],
            classifier_buf: vec![0.0; CLASSIFIER_EMBEDDINGS * EMBEDDING_DIM],
        };
        detector.set_refractory_ms(DEFAULT_REFRACTORY_MS);
        Ok(detector)
    }

    /// How long a keyword stays quiet after firing.
    pub fn set_refractory_ms(&mut self, ms: u32) {
        self.refractory_chunks = ms.div_ceil(80);
    }

    /// The keywords loaded, in load order.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.classifiers.iter().map(|c| c.keyword.as_str())
    }

    /// Each keyword's score for the most recent chunk (0 until 2 s of audio have been seen).
    pub fn last_scores(&self) -> Vec<(&str, f32)> {
        self.classifiers
            .iter()
            .map(|c| (c.keyword.as_str(), c.last_score))
            .collect()
    }

    /// Feed 16 kHz mono samples in [-1, 1], any length (80 ms chunks are natural). Returns the
    /// keywords that fired in the complete 80 ms chunks this call finished.
    pub fn process(&mut self, samples: &[f32]) -> Result<Vec<Detection>, ListenError> {
        let mut detections = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (CHUNK_SAMPLES - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == CHUNK_SAMPLES {
                let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK_SAMPLES));
                self.process_chunk(&chunk, &mut detections)?;
            }
        }
        Ok(detections)
    }

    /// Forget the stream (audio, features, scores and refractory periods).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.tail.clear();
        self.mel_frames.clear();
        self.mel_start = 0;
        self.mel_total = 0;
        self.next_window = 0;
        self.embeddings.clear();
        for c in &mut self.classifiers {
            c.quiet_chunks = 0;
            c.last_score = 0.0;
        }
    }

    fn process_chunk(
        &mut self,
        chunk: &[f32],
        detections: &mut Vec<Detection>,
    ) -> Result<(), ListenError> {
        let mut audio = Vec::with_capacity(CHUNK_CONTEXT + CHUNK_SAMPLES);
        audio.extend_from_slice(&self.tail);
        audio.extend_from_slice(chunk);
        self.tail.clear();
        self.tail
            .extend_from_slice(&chunk[CHUNK_SAMPLES - CHUNK_CONTEXT..]);
        self.push_mel_frames(&audio)?;

        while self.next_window + EMBEDDING_WINDOW <= self.mel_total {
            let offset = self.next_window - self.mel_start;
            for (i, frame) in self
                .mel_frames
                .range(offset..offset + EMBEDDING_WINDOW)
                .enumerate()
            {
                self.window_buf[i * MEL_BINS..(i + 1) * MEL_BINS].copy_from_slice(frame);
            }
            let embedding = self.embed()?;
            if self.embeddings.len() == CLASSIFIER_EMBEDDINGS {
                self.embeddings.pop_front();
            }
            self.embeddings.push_back(embedding);
            self.next_window += EMBEDDING_STRIDE;
        }
        // Frames before the next window are no longer needed.
        while self.mel_start < self.next_window && !self.mel_frames.is_empty() {
            self.mel_frames.pop_front();
            self.mel_start += 1;
        }

        for c in &mut self.classifiers {
            c.quiet_chunks = c.quiet_chunks.saturating_sub(1);
        }
        if self.embeddings.len() < CLASSIFIER_EMBEDDINGS {
            return Ok(());
        }
        for (i, e) in self.embeddings.iter().enumerate() {
            self.classifier_buf[i * EMBEDDING_DIM..(i + 1) * EMBEDDING_DIM].copy_from_slice(e);
        }
        for c in &mut self.classifiers {
            let score = classify(c, &self.classifier_buf)?;
            c.last_score = score;
            if score >= c.threshold && c.quiet_chunks == 0 {
                c.quiet_chunks = self.refractory_chunks;
                tracing::debug!(keyword = %c.keyword, score, "wake word detected");
                detections.push(Detection {
                    keyword: c.keyword.clone(),
                    score,
                });
            }
        }
        Ok(())
    }

    fn push_mel_frames(&mut self, audio: &[f32]) -> Result<(), ListenError> {
        let path = &self.mel_path;
        let run_err = |source| ListenError::Inference {
            what: WHAT_MEL,
            path: path.clone(),
            source,
        };
        let input = TensorRef::from_array_view(([1usize, audio.len()], audio)).map_err(run_err)?;
        let outputs = self.mel.run(ort::inputs![input]).map_err(run_err)?;
        let data = match outputs
            .get(&self.mel_output)
            .map(|v| v.try_extract_tensor::<f32>())
        {
            Some(Ok((_, data))) if data.len() % MEL_BINS == 0 => data,
            _ => {
                return Err(ListenError::BadOutput {
                    what: WHAT_MEL,
                    path: path.clone(),
                    detail: format!("`{}` is not f32 frames of {MEL_BINS} bins", self.mel_output),
                })
            }
        };
        for row in data.chunks_exact(MEL_BINS) {
            let mut frame = [0.0f32; MEL_BINS];
            // openWakeWord's melspec transform, which the embedding model was trained on.
            for (dst, &src) in frame.iter_mut().zip(row) {
                *dst = src / 10.0 + 2.0;
            }
            self.mel_frames.push_back(frame);
            self.mel_total += 1;
        }
        Ok(())
    }

    fn embed(&mut self) -> Result<[f32; EMBEDDING_DIM], ListenError> {
        let path = &self.emb_path;
        let run_err = |source| ListenError::Inference {
            what: WHAT_EMB,
            path: path.clone(),
            source,
        };
        let input = TensorRef::from_array_view((
            [1usize, EMBEDDING_WINDOW, MEL_BINS, 1],
            self.window_buf.as_slice(),
        ))
        .map_err(run_err)?;
        let outputs = self.emb.run(ort::inputs![input]).map_err(run_err)?;
        match outputs
            .get(&self.emb_output)
            .map(|v| v.try_extract_tensor::<f32>())
        {
            Some(Ok((_, data))) if data.len() == EMBEDDING_DIM => {
                let mut out = [0.0f32; EMBEDDING_DIM];
                out.copy_from_slice(data);
                Ok(out)
            }
            _ => Err(ListenError::BadOutput {
                what: WHAT_EMB,
                path: path.clone(),
                detail: format!("`{}` is not {EMBEDDING_DIM} f32 values", self.emb_output),
            }),
        }
    }
}

fn classify(c: &mut Classifier, embeddings: &[f32]) -> Result<f32, ListenError> {
    let run_err = |source| ListenError::Inference {
        what: WHAT_CLS,
        path: c.path.clone(),
        source,
    };
    let input =
        TensorRef::from_array_view(([1usize, CLASSIFIER_EMBEDDINGS, EMBEDDING_DIM], embeddings))
            .map_err(run_err)?;
    let outputs = c
        .session
        .run(ort::inputs![c.input_name.as_str() => input])
        .map_err(|source| ListenError::Inference {
            what: WHAT_CLS,
            path: c.path.clone(),
            source,
        })?;
    match outputs
        .get(&c.output_name)
        .map(|v| v.try_extract_tensor::<f32>())
    {
        Some(Ok((_, data))) if !data.is_empty() => Ok(data[0]),
        _ => Err(ListenError::BadOutput {
            what: WHAT_CLS,
            path: c.path.clone(),
            detail: format!("`{}` is not an f32 score", c.output_name),
        }),
    }
}
