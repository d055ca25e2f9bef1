//! Unit tests for WAV decoding and resampling. Every file is generated with hound here, so
//! each format is checked against values we chose.

use std::f32::consts::PI;
use std::io::Cursor;

use super::wav::*;

fn wav_bytes<S: hound::Sample + Copy>(spec: hound::WavSpec, samples: &[S]) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut buf, spec).expect("writer");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
    buf.into_inner()
}

fn spec(channels: u16, rate: u32, bits: u16, float: bool) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    }
}

fn sine(freq: f32, rate: u32, secs: f32, amp: f32) -> Vec<f32> {
    let n = (rate as f32 * secs) as usize;
    (0..n)
        .map(|i| amp * (2.0 * PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "sample {i}: {x} vs {y}");
    }
}

#[test]
fn reads_16_bit_mono_at_16k_unchanged() {
    let src = sine(440.0, 16_000, 0.5, 0.5);
    let ints: Vec<i16> = src.iter().map(|s| (s * 32768.0).round() as i16).collect();
    let got = read_wav_from(
        Cursor::new(wav_bytes(spec(1, 16_000, 16, false), &ints)),
        "t16",
    )
    .unwrap();
    assert_close(&got, &src, 1.0 / 32768.0);
}

#[test]
fn reads_24_bit_stereo_and_averages_channels() {
    let frames = 1600;
    let mut inter = Vec::new();
    for _ in 0..frames {
        inter.push((0.25 * 8_388_608.0) as i32);
        inter.push((-0.75 * 8_388_608.0) as i32);
    }
    let got = read_wav_from(
        Cursor::new(wav_bytes(spec(2, 16_000, 24, false), &inter)),
        "t24",
    )
    .unwrap();
    assert_eq!(got.len(), frames);
    assert!(
        got.iter().all(|&s| (s + 0.25).abs() < 1e-6),
        "mean of +0.25 and -0.75"
    );
}

#[test]
fn reads_32_bit_int_with_three_channels() {
    let frames = 800;
    let full = 2_147_483_648.0f64;
    let mut inter = Vec::new();
    for _ in 0..frames {
        inter.extend([
            (0.5 * full) as i32,
            (0.25 * full) as i32,
            (-0.15 * full) as i32,
        ]);
    }
    let got = read_wav_from(
        Cursor::new(wav_bytes(spec(3, 16_000, 32, false), &inter)),
        "t32",
    )
    .unwrap();
    assert_eq!(got.len(), frames);
    assert!(
        got.iter().all(|&s| (s - 0.2).abs() < 1e-6),
        "got {}",
        got[0]
    );
}

#[test]
fn reads_32_bit_float_exactly() {
    let src = sine(300.0, 16_000, 0.25, 0.9);
    let got = read_wav_from(
        Cursor::new(wav_bytes(spec(1, 16_000, 32, true), &src)),
        "tf",
    )
    .unwrap();
    assert_eq!(got, src);
}

#[test]
fn float_samples_past_full_scale_are_clipped_not_overflowed() {
    // Found by fuzzing: near-f32::MAX samples at 8 kHz came out of the resampler infinite.
    let src: Vec<f32> = (0..800)
        .map(|i| if i % 2 == 0 { 3.0e38 } else { -2.5 })
        .collect();
    let got = read_wav_from(
        Cursor::new(wav_bytes(spec(1, 8_000, 32, true), &src)),
        "big",
    )
    .unwrap();
    assert!(!got.is_empty());
    assert!(
        got.iter().all(|s| s.is_finite() && s.abs() <= 1.5),
        "{:?}",
        &got[..8]
    );
}

/// Frequency check by the Goertzel algorithm: share of the signal's energy at `freq`.
fn energy_share(x: &[f32], rate: f32, freq: f32) -> f32 {
    let w = 2.0 * PI * freq / rate;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let c = 2.0 * (w as f64).cos();
    for &v in x {
        let s0 = v as f64 + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - c * s1 * s2; // |X(f)|^2
    let total: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
    (2.0 * power / (x.len() as f64 * total)) as f32
}

fn zero_crossings(x: &[f32]) -> usize {
    x.windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count()
}

fn check_resampled_sine(from: u32) {
    let secs = 1.0;
    let src = sine(1000.0, from, secs, 0.5);
    let ints: Vec<i16> = src.iter().map(|s| (s * 32767.0).round() as i16).collect();
    let got = read_wav_from(
        Cursor::new(wav_bytes(spec(1, from, 16, false), &ints)),
        "sine",
    )
    .unwrap();
    let expected_len = (src.len() as f64 * 16_000.0 / from as f64).ceil() as usize;
    assert_eq!(
        got.len(),
        expected_len,
        "no samples dropped or added ({from} Hz)"
    );
    // Ignore the edges, where the band-limited filter rings.
    let mid = &got[800..got.len() - 800];
    let share = energy_share(mid, 16_000.0, 1000.0);
    assert!(share > 0.99, "{from} Hz: energy at 1 kHz is {share}");
    let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
    assert!(
        (rms - 0.5 / 2f32.sqrt()).abs() < 0.01,
        "{from} Hz: rms {rms}"
    );
    // 1 kHz crosses zero 2000 times a second.
    let zc = zero_crossings(mid) as f32 / (mid.len() as f32 / 16_000.0);
    assert!((zc - 2000.0).abs() < 10.0, "{from} Hz: {zc} crossings/s");
}

#[test]
fn resamples_1khz_sine_from_8k() {
    check_resampled_sine(8_000);
}

#[test]
fn resamples_1khz_sine_from_48k() {
    check_resampled_sine(48_000);
}

#[test]
fn resamples_1khz_sine_from_22050() {
    check_resampled_sine(22_050);
}

#[test]
fn downsampling_removes_content_above_8k() {
    // A 12 kHz tone at 48 kHz cannot exist at 16 kHz; a resampler that drops samples would
    // alias it to 4 kHz instead of filtering it out.
    let src = sine(12_000.0, 48_000, 0.5, 0.5);
    let got = resample(&src, 48_000, 16_000).unwrap();
    let mid = &got[400..got.len() - 400];
    let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
    assert!(rms < 0.01, "aliased energy left: rms {rms}");
}

#[test]
fn write_then_read_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.wav");
    let src = sine(500.0, 16_000, 0.2, 0.3);
    write_wav(&path, &src, 16_000).unwrap();
    let reader = hound::WavReader::open(&path).unwrap();
    assert_eq!(reader.spec(), spec(1, 16_000, 16, false));
    let got = read_wav(&path).unwrap();
    assert_close(&got, &src, 1.0 / 32767.0);
}

#[test]
fn missing_file_names_the_path() {
    let err = read_wav(std::path::Path::new("/nonexistent/x.wav")).unwrap_err();
    assert!(matches!(err, WavError::Open { .. }));
    assert!(err.to_string().contains("/nonexistent/x.wav"), "{err}");
}

#[test]
fn zero_length_input_is_empty() {
    let err = read_wav_from(Cursor::new(Vec::new()), "empty.wav").unwrap_err();
    assert!(matches!(err, WavError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.wav"));
}

#[test]
fn header_without_samples_is_empty() {
    let bytes = wav_bytes::<i16>(spec(1, 16_000, 16, false), &[]);
    let err = read_wav_from(Cursor::new(bytes), "nodata").unwrap_err();
    assert!(matches!(err, WavError::Empty { .. }), "{err:?}");
}

#[test]
fn garbage_is_malformed() {
    let err = read_wav_from(
        Cursor::new(b"this is not a wav file at all, just text".to_vec()),
        "g",
    )
    .unwrap_err();
    assert!(matches!(err, WavError::Malformed { .. }), "{err:?}");
}

#[test]
fn cut_data_is_truncated() {
    let samples = vec![1000i16; 4000];
    let mut bytes = wav_bytes(spec(1, 16_000, 16, false), &samples);
    bytes.truncate(bytes.len() - 3001); // also ends inside a sample
    let err = read_wav_from(Cursor::new(bytes), "cut").unwrap_err();
    assert!(matches!(err, WavError::Truncated { .. }), "{err:?}");
}

#[test]
fn cut_header_is_truncated() {
    let bytes = wav_bytes(spec(1, 16_000, 16, false), &[1i16; 10]);
    let err = read_wav_from(Cursor::new(bytes[..20].to_vec()), "cuthdr").unwrap_err();
    assert!(matches!(err, WavError::Truncated { .. }), "{err:?}");
}

fn header(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits / 8;
    let mut b = Vec::new();
    b.extend(b"RIFF");
    b.extend(36u32.to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(tag.to_le_bytes());
    b.extend(channels.to_le_bytes());
    b.extend(rate.to_le_bytes());
    b.extend((rate * align as u32).to_le_bytes()); // byte rate
    b.extend(align.to_le_bytes());
    b.extend(bits.to_le_bytes());
    b.extend(b"data");
    b.extend(0u32.to_le_bytes());
    b
}

#[test]
fn compressed_encoding_is_unsupported() {
    // Format tag 6: A-law, a telephony codec, not PCM.
    let err = read_wav_from(Cursor::new(header(6, 1, 8_000, 8)), "alaw").unwrap_err();
    assert!(matches!(err, WavError::Unsupported { .. }), "{err:?}");
    assert!(
        err.to_string().contains("pcm_s16le"),
        "says how to fix: {err}"
    );
}

#[test]
fn double_precision_float_is_unsupported() {
    let err = read_wav_from(Cursor::new(header(3, 1, 16_000, 64)), "f64").unwrap_err();
    assert!(matches!(err, WavError::Unsupported { .. }), "{err:?}");
}
