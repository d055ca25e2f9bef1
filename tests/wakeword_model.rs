//! Streaming wake-word detection with the real melspectrogram, embedding and `hey_livekit`
//! classifier models from the models directory. A missing model fails the test with the fix
//! (`skylark models fetch`); it is never skipped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use skylark::listen::wakeword::CHUNK_SAMPLES;
use skylark::listen::{Detection, WakeWordDetector};

const THRESHOLD: f32 = 0.5;

fn model(name: &str) -> PathBuf {
    let dir = skylark::models::default_models_dir();
    if let Err(e) = skylark::onnx::init(&dir) {
        panic!("{e}");
    }
    let path = dir.join("wakeword").join(name);
    assert!(
        path.is_file(),
        "wake-word model missing at {}. Run `skylark models fetch`.",
        path.display()
    );
    path
}

fn detector(keywords: &[(&str, f32)]) -> WakeWordDetector {
    let classifier = model("hey_livekit.onnx");
    let specs: Vec<(&str, &Path, f32)> = keywords
        .iter()
        .map(|&(k, t)| (k, classifier.as_path(), t))
        .collect();
    WakeWordDetector::load(
        &model("melspectrogram.onnx"),
        &model("embedding_model.onnx"),
        &specs,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn read_wav_16k(name: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wakeword")
        .join(name);
    let mut reader =
        hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16),
        "{}",
        path.display()
    );
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("valid sample")) / 32768.0)
        .collect()
}

/// Deterministic low white noise (about -60 dBFS), a quiet microphone.
fn room_noise(n: usize) -> Vec<f32> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 * 2.0 - 1.0) * 0.0017
        })
        .collect()
}

/// Stream `audio` in pieces of `piece` samples; returns detections and, per 80 ms chunk, the
/// score of the first keyword.
fn stream(det: &mut WakeWordDetector, audio: &[f32], piece: usize) -> (Vec<Detection>, Vec<f32>) {
    let mut detections = Vec::new();
    let mut scores = Vec::new();
    let mut fed = 0;
    for part in audio.chunks(piece) {
        detections.extend(det.process(part).unwrap_or_else(|e| panic!("{e}")));
        let before = fed / CHUNK_SAMPLES;
        fed += part.len();
        for _ in before..fed / CHUNK_SAMPLES {
            scores.push(det.last_scores()[0].1);
        }
    }
    (detections, scores)
}

fn with_noise(audio: &[f32], before_s: f32, after_s: f32) -> Vec<f32> {
    let mut out = room_noise((before_s * 16_000.0) as usize);
    out.extend_from_slice(audio);
    out.extend(room_noise((after_s * 16_000.0) as usize));
    out
}

#[test]
fn positive_triggers_hey_livekit_once() {
    let mut det = detector(&[("hey_livekit", THRESHOLD)]);
    let audio = with_noise(&read_wav_16k("positive.wav"), 1.0, 1.5);
    let started = Instant::now();
    let (detections, scores) = stream(&mut det, &audio, CHUNK_SAMPLES);
    let per_chunk = started.elapsed() / scores.len() as u32;
    eprintln!(
        "wake word: {} chunks, {:?} per 80 ms chunk",
        scores.len(),
        per_chunk
    );
    eprintln!("scores: {scores:.3?}");
    assert_eq!(
        detections.len(),
        1,
        "one utterance, one detection (refractory period): {detections:?}"
    );
    assert_eq!(detections[0].keyword, "hey_livekit");
    assert!(detections[0].score >= THRESHOLD);
}

#[test]
fn negative_never_triggers() {
    let mut det = detector(&[("hey_livekit", THRESHOLD)]);
    let audio = with_noise(&read_wav_16k("negative.wav"), 0.0, 1.5);
    let (detections, scores) = stream(&mut det, &audio, CHUNK_SAMPLES);
    eprintln!("scores: {scores:.3?}");
    assert!(detections.is_empty(), "{detections:?}");
    let max = scores.iter().copied().fold(0.0f32, f32::max);
    assert!(max < THRESHOLD, "negative.wav scored {max}");
}

/// Streaming exactly the 2 s fixture gives the score the livekit-wakeword crate's 2 s batch
/// pipeline gives (computed with onnxruntime in Python: 0.99969 and 0.00094), so the frames,
/// windows and scaling line up with what the classifier was trained on.
#[test]
fn two_second_stream_matches_the_batch_pipeline() {
    for (name, expected) in [("positive.wav", 0.99969f32), ("negative.wav", 0.00094)] {
        let mut det = detector(&[("hey_livekit", THRESHOLD)]);
        let audio = read_wav_16k(name);
        assert_eq!(audio.len(), 25 * CHUNK_SAMPLES);
        let (_, scores) = stream(&mut det, &audio, CHUNK_SAMPLES);
        let last = scores[scores.len() - 1];
        assert!(
            scores[..24].iter().all(|&s| s == 0.0),
            "scores before 2 s of audio: {scores:?}"
        );
        assert!(
            (last - expected).abs() < 2e-4,
            "{name}: streamed {last}, batch {expected}"
        );
    }
}

#[test]
fn piece_size_does_not_change_results() {
    let audio = with_noise(&read_wav_16k("positive.wav"), 1.0, 0.5);
    let mut a = detector(&[("hey_livekit", THRESHOLD)]);
    let (det_a, scores_a) = stream(&mut a, &audio, CHUNK_SAMPLES);
    let mut b = detector(&[("hey_livekit", THRESHOLD)]);
    let (det_b, scores_b) = stream(&mut b, &audio, 1000);
    assert_eq!(det_a, det_b);
    assert_eq!(scores_a, scores_b);
    // And reset starts a fresh stream.
    a.reset();
    let (det_c, scores_c) = stream(&mut a, &audio, 333);
    assert_eq!(det_a, det_c);
    assert_eq!(scores_a, scores_c);
}

#[test]
fn keywords_have_their_own_thresholds_and_refractory_period() {
    // The same classifier under two names: an impossible threshold never fires.
    let mut det = detector(&[("easy", 0.5), ("impossible", 1.01)]);
    det.set_refractory_ms(0);
    let audio = with_noise(&read_wav_16k("positive.wav"), 1.0, 1.5);
    let (detections, _) = stream(&mut det, &audio, CHUNK_SAMPLES);
    assert!(
        detections.iter().all(|d| d.keyword == "easy"),
        "{detections:?}"
    );
    // With no refractory period every chunk whose window holds the phrase fires.
    assert!(detections.len() > 1, "{detections:?}");
    assert_eq!(det.keywords().collect::<Vec<_>>(), ["easy", "impossible"]);
}

#[test]
fn missing_classifier_names_the_fix() {
    let mel = model("melspectrogram.onnx");
    let emb = model("embedding_model.onnx");
    let missing = Path::new("/nonexistent/hey_nobody.onnx");
    let err = match WakeWordDetector::load(&mel, &emb, &[("hey_nobody", missing, 0.5)]) {
        Ok(_) => panic!("loading a missing classifier succeeded"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("hey_nobody.onnx") && err.contains("skylark models fetch"),
        "{err}"
    );
}
