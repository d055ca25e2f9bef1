//! Silero VAD v5 on real audio, with the real model from the models directory.
//! A missing model fails the test with the fix (`skylark models fetch`); it is never skipped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use skylark::listen::vad::FRAME_SAMPLES;
use skylark::listen::{ListenError, SegmenterConfig, SileroVad, VadEvent, VadSegmenter};

fn load_vad() -> SileroVad {
    let dir = skylark::models::default_models_dir();
    if let Err(e) = skylark::onnx::init(&dir) {
        panic!("{e}");
    }
    let path = dir.join("vad/silero_vad.onnx");
    assert!(
        path.is_file(),
        "Silero VAD model missing at {}. Run `skylark models fetch`.",
        path.display()
    );
    SileroVad::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// 16 kHz mono s16 WAV → f32 in [-1, 1].
fn read_wav_16k(path: &Path) -> Vec<f32> {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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

fn probabilities(vad: &mut SileroVad, audio: &[f32]) -> Vec<f32> {
    audio
        .chunks_exact(FRAME_SAMPLES)
        .map(|frame| vad.process(frame).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Deterministic white noise (xorshift), uniform in [-amp, amp].
fn white_noise(n: usize, amp: f32) -> Vec<f32> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 * 2.0 - 1.0) * amp
        })
        .collect()
}

#[test]
fn jfk_speech_scores_high_over_most_of_its_span() {
    let mut vad = load_vad();
    let audio = read_wav_16k(&data("audio/jfk.wav"));
    let started = Instant::now();
    let probs = probabilities(&mut vad, &audio);
    let per_frame = started.elapsed() / probs.len() as u32;
    eprintln!(
        "VAD: {} frames, {:?} per 32 ms frame",
        probs.len(),
        per_frame
    );

    let line: String = probs
        .iter()
        .map(|&p| if p > 0.5 { '#' } else { '.' })
        .collect();
    eprintln!("{line}");
    // The speech runs from about 0.3 s to 10.6 s of 11 s, with short pauses between phrases.
    let first = probs.iter().position(|&p| p > 0.5).expect("some speech");
    let last = probs.iter().rposition(|&p| p > 0.5).expect("some speech");
    let span = &probs[first..=last];
    let speech = span.iter().filter(|&&p| p > 0.5).count() as f32 / span.len() as f32;
    let strong = span.iter().filter(|&&p| p > 0.8).count() as f32 / span.len() as f32;
    eprintln!(
        "span {first}..={last}, {:.0}% > 0.5, {:.0}% > 0.8",
        speech * 100.0,
        strong * 100.0
    );
    assert!(
        first * FRAME_SAMPLES < 16_000,
        "speech found late, at frame {first}"
    );
    assert!(
        last * FRAME_SAMPLES > 9 * 16_000,
        "speech ends early, at frame {last}"
    );
    assert!(
        speech > 0.7,
        "only {:.0}% of the speech span is above 0.5",
        speech * 100.0
    );
    assert!(
        strong > 0.5,
        "only {:.0}% of the speech span is above 0.8",
        strong * 100.0
    );
}

#[test]
fn silence_and_low_noise_stay_below_half() {
    let mut vad = load_vad();
    let zeros = vec![0.0f32; 2 * 16_000];
    let max_zero = probabilities(&mut vad, &zeros)
        .into_iter()
        .fold(0.0f32, f32::max);
    vad.reset();
    let noise = white_noise(2 * 16_000, 0.01); // about -45 dBFS
    let max_noise = probabilities(&mut vad, &noise)
        .into_iter()
        .fold(0.0f32, f32::max);
    eprintln!("max probability: zeros {max_zero:.3}, low noise {max_noise:.3}");
    assert!(max_zero < 0.5, "digital silence scored {max_zero}");
    assert!(max_noise < 0.5, "low white noise scored {max_noise}");
}

#[test]
fn segmenter_finds_one_segment_covering_jfk() {
    let mut vad = load_vad();
    let mut audio = read_wav_16k(&data("audio/jfk.wav"));
    audio.extend(std::iter::repeat_n(0.0, 16_000)); // a second of silence to end on
                                                    // The address pauses for about 1.1 s after "Americans,"; an end-of-speech silence of 1.5 s
                                                    // keeps it one utterance (with the 0.7 s default it is two, which is also right for
                                                    // commands).
    let config = SegmenterConfig {
        end_silence_ms: 1500,
        ..SegmenterConfig::default()
    };
    let mut segmenter = VadSegmenter::new(config);
    let mut events: Vec<VadEvent> = Vec::new();
    for frame in audio.chunks_exact(FRAME_SAMPLES) {
        let p = vad.process(frame).unwrap_or_else(|e| panic!("{e}"));
        events.extend(segmenter.push(p));
    }
    events.extend(segmenter.finish());
    eprintln!("{events:?}");
    let segments: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            VadEvent::End(s) => Some(*s),
            VadEvent::Start { .. } => None,
        })
        .collect();
    assert_eq!(segments.len(), 1, "{events:?}");
    let s = segments[0];
    assert!(s.start < 16_000, "segment starts at {} samples", s.start);
    assert!(
        s.end > 10 * 16_000 && s.end <= 11 * 16_000 + 8_000,
        "segment ends at {} samples",
        s.end
    );
}

#[test]
fn reset_makes_the_stream_repeatable_and_state_matters() {
    let mut vad = load_vad();
    let audio = read_wav_16k(&data("audio/jfk.wav"));
    let head = &audio[..64 * FRAME_SAMPLES];
    let a = probabilities(&mut vad, head);
    vad.reset();
    let b = probabilities(&mut vad, head);
    assert_eq!(
        a, b,
        "after reset the same audio must give the same probabilities"
    );
    // Without reset the recurrent state carries over, so the same audio scores differently.
    let c = probabilities(&mut vad, head);
    assert_ne!(a, c, "the recurrent state has no effect: is it fed back?");
}

#[test]
fn wrong_frame_size_is_an_error_not_a_panic() {
    let mut vad = load_vad();
    match vad.process(&[0.0; 480]) {
        Err(ListenError::FrameSize {
            expected: 512,
            got: 480,
            ..
        }) => {}
        other => panic!("expected a frame size error, got {other:?}"),
    }
}

/// The model-free fallback on the same recording: coarser, but it still finds the address as
/// one utterance once it has heard a moment of the room.
#[test]
fn energy_fallback_finds_jfk_speech() {
    use skylark::listen::EnergyVad;
    let mut audio = white_noise(16_000, 0.002);
    let lead_in = audio.len();
    audio.extend(read_wav_16k(&data("audio/jfk.wav")));
    audio.extend(white_noise(2 * 16_000, 0.002));
    let mut vad = EnergyVad::new();
    let config = SegmenterConfig {
        end_silence_ms: 1500,
        ..SegmenterConfig::default()
    };
    let mut segmenter = VadSegmenter::new(config);
    let mut events = Vec::new();
    for frame in audio.chunks_exact(FRAME_SAMPLES) {
        events.extend(segmenter.push(vad.process(frame)));
    }
    events.extend(segmenter.finish());
    eprintln!("{events:?}");
    let segments: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            VadEvent::End(s) => Some(*s),
            VadEvent::Start { .. } => None,
        })
        .collect();
    assert_eq!(segments.len(), 1, "{events:?}");
    assert!(segments[0].start < lead_in + 16_000, "{:?}", segments[0]);
    assert!(segments[0].end > lead_in + 10 * 16_000, "{:?}", segments[0]);
    assert!(segments[0].end < lead_in + 12 * 16_000, "{:?}", segments[0]);
}

#[test]
fn detector_falls_back_to_energy_only_when_the_model_is_missing() {
    let dir = skylark::models::default_models_dir();
    if let Err(e) = skylark::onnx::init(&dir) {
        panic!("{e}");
    }
    let empty = tempfile::tempdir().expect("temp dir");
    // Digital silence then a loud square wave: both detectors must call the tone speech-like
    // differently from silence, and neither may fail.
    let mut fallback =
        skylark::listen::vad::detector_for(empty.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut silero = skylark::listen::vad::detector_for(&dir).unwrap_or_else(|e| panic!("{e}"));
    let silence = [0.0f32; FRAME_SAMPLES];
    let tone: Vec<f32> = (0..FRAME_SAMPLES)
        .map(|i| if (i / 40) % 2 == 0 { 0.3 } else { -0.3 })
        .collect();
    let fb_silence = fallback.process(&silence).unwrap_or_else(|e| panic!("{e}"));
    let fb_tone = fallback.process(&tone).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        fb_silence < 0.1 && fb_tone > 0.9,
        "energy: silence {fb_silence}, tone {fb_tone}"
    );
    // Silero knows a steady tone is not speech; the energy detector cannot.
    let mut sil_tone = 0.0f32;
    for _ in 0..30 {
        sil_tone = silero.process(&tone).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        sil_tone < 0.5,
        "Silero called a steady square wave speech ({sil_tone})"
    );
}
