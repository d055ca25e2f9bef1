//! The Kokoro Mandarin voice (`kokoro-zh`) with the real model: whisper base must hear its
//! cockpit replies back (and the same test measures espeak-ng, the fallback, for comparison);
//! odd input never panics; a missing or broken Kokoro leaves Mandarin to espeak-ng. A missing
//! model fails the test with the fix (`skylark models fetch kokoro-zh`); it is never skipped.
//!
//! Figures: `cargo test --release --test tts_kokoro -- --nocapture --test-threads=1`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use skylark::config::Config;
use skylark::engine::{Audio, CancelToken, Transcriber as _};
use skylark::nlu::Language;
use skylark::speech::espeak::EspeakVoice;
use skylark::speech::{VoiceSpeaker, WhisperTranscriber};
use skylark::tts::kokoro::{KokoroVoice, SAMPLE_RATE};
use skylark::tts::normalize::{for_speech, Reading};

const FILES: [&str; 3] = [
    "tts/kokoro/kokoro-v1.0.int8.onnx",
    "tts/kokoro/vocab.json",
    "tts/kokoro/zm_yunxi.bin",
];

fn models_dir() -> PathBuf {
    let dir = skylark::models::default_models_dir();
    for f in FILES.iter().chain(&["whisper/ggml-base-q8_0.bin"]) {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: run `skylark models fetch kokoro-zh whisper-base`",
            dir.join(f).display()
        );
    }
    skylark::onnx::init(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn kokoro() -> KokoroVoice {
    let dir = models_dir();
    let [model, vocab, pack] = FILES.map(|f| dir.join(f));
    KokoroVoice::load(&model, &vocab, &pack).unwrap_or_else(|e| panic!("{e}"))
}

fn zh() -> Language {
    Language::parse("zh-CN").expect("zh-CN")
}

/// Ten replies the assistant says in a car (numbers as the normaliser reads them).
const REPLIES: [&str; 10] = [
    "好的，温度已设为22度。",
    "好的，风量已调到3档。",
    "音量已调到50。",
    "好的，开始导航到上海虹桥站。",
    "正在为你查找附近的充电站。",
    "前方300米右转，然后直行两公里。",
    "剩余电量80%，还能行驶350公里。",
    "正在呼叫李明。",
    "明天有小雨，出门记得带伞。",
    "已为你打开座椅加热。",
];

/// Summed character edits over summed reference length, whisper base (the daemon's Mandarin
/// settings) hearing `voice`'s audio resampled to 16 kHz; numbers on both sides read as words.
fn cer_of(
    name: &str,
    transcriber: &WhisperTranscriber,
    mut voice: impl FnMut(&str) -> (Vec<f32>, u32),
) -> f64 {
    let (mut edits, mut len) = (0, 0);
    for text in REPLIES {
        let (samples, rate) = voice(text);
        assert!(!samples.is_empty(), "{name}: no audio for {text}");
        let samples = skylark::audio::resample(&samples, rate, 16_000).expect("resample");
        let heard = transcriber
            .transcribe(&Audio { samples }, &zh(), &CancelToken::new())
            .unwrap_or_else(|e| panic!("{e}"));
        let (e, n) = skylark::asr::char_edits(
            &for_speech(text, Reading::Mandarin),
            &for_speech(&heard, Reading::Mandarin),
        );
        eprintln!("[figure] {name}: {text} -> {heard} ({e} edits of {n})");
        edits += e;
        len += n;
    }
    let cer = edits as f64 / len as f64;
    eprintln!(
        "[figure] {name}: CER {:.1} % ({edits} of {len})",
        cer * 100.0
    );
    cer
}

#[test]
fn whisper_base_hears_kokoro_replies_and_not_espeak_ng() {
    let dir = models_dir();
    let config = Config::default();
    let transcriber = WhisperTranscriber::load_for(&config, &dir, Some(&zh()))
        .unwrap_or_else(|e| panic!("whisper base: {e}"));
    let mut voice = kokoro();
    let started = Instant::now();
    let kokoro_cer = cer_of("kokoro zm_yunxi", &transcriber, |text| {
        let audio = voice.synthesize(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(audio.sample_rate, SAMPLE_RATE);
        assert!(audio.samples.iter().all(|s| s.is_finite()));
        (audio.samples, audio.sample_rate)
    });
    eprintln!(
        "[figure] kokoro round trip: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let espeak = EspeakVoice::check("espeak-ng", &config.tts.espeak_voice_zh)
        .unwrap_or_else(|e| panic!("espeak-ng: {e}"));
    let espeak_cer = cer_of("espeak-ng cmn-latn-pinyin", &transcriber, |text| {
        espeak
            .synthesize(text, &|| false)
            .unwrap_or_else(|e| panic!("{e}"))
    });
    // The bound sits between the two voices: Kokoro measured 12.7–14.5 % (zm_yunxi, zm_yunjian,
    // zf_xiaoyi), espeak-ng 83.6–85.5 %.
    const BOUND: f64 = 0.30;
    assert!(
        kokoro_cer < BOUND,
        "Kokoro CER {kokoro_cer:.3} (bound {BOUND})"
    );
    assert!(
        espeak_cer > kokoro_cer,
        "espeak-ng {espeak_cer:.3} vs Kokoro {kokoro_cer:.3}"
    );
}

#[test]
fn odd_input_never_panics() {
    let mut voice = kokoro();
    for text in [
        "",
        "   \n\t",
        "🙂🚗🙂",
        "。。。，，！？",
        "Hello world",
        "打开 Bluetooth 和 CarPlay，然后播放 Jay Chou 的歌",
        "Привет, 你好, こんにちは, 안녕하세요",
        "a\u{0}b\u{7}c\u{202e}好",
        "𠀀𠀁𪚥",
        "㐀㐁",
    ] {
        let audio = voice
            .synthesize(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        eprintln!("[figure] {text:?}: {:.2} s", audio.duration_secs());
        assert!(audio.samples.iter().all(|s| s.is_finite()));
    }
    assert!(voice.synthesize("").expect("empty").samples.is_empty());
    assert!(voice.synthesize("🙂").expect("emoji").samples.is_empty());
}

#[test]
fn very_long_text_is_spoken_in_pieces() {
    let mut voice = kokoro();
    // One 160-character "clause" without punctuation (~600 phoneme ids, past the model's 510),
    // then ordinary sentences: both are cut, each piece within what the model takes.
    let run_on = "前方路口右转然后直行".repeat(16);
    let text = format!("{run_on}。{}", "好的，温度已设为二十二度。".repeat(3));
    let mut pieces = 0;
    let mut secs = 0.0;
    let started = Instant::now();
    voice
        .synthesize_each(&text, |audio, _| {
            pieces += 1;
            secs += audio.duration_secs();
            assert!(audio.duration_secs() < 60.0, "{} s", audio.duration_secs());
            true
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "[figure] {} characters: {pieces} pieces, {secs:.1} s of audio in {:.1} s",
        text.chars().count(),
        started.elapsed().as_secs_f64()
    );
    assert!(pieces >= 3, "{pieces}");
    assert!(
        secs > 20.0,
        "{secs} s for {} characters",
        text.chars().count()
    );
    // Stopping after the first piece stops.
    let mut calls = 0;
    voice
        .synthesize_each(&text, |_, _| {
            calls += 1;
            false
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(calls, 1);
}

/// A models folder with only ONNX Runtime, and (when `pack` is given) the Kokoro model and
/// vocabulary with that voice pack.
fn models_without_kokoro(tmp: &Path, pack: Option<&[u8]>) -> PathBuf {
    let real = models_dir();
    std::os::unix::fs::symlink(real.join("onnxruntime"), tmp.join("onnxruntime")).expect("link");
    if let Some(bytes) = pack {
        std::fs::create_dir_all(tmp.join("tts/kokoro")).expect("mkdir");
        for f in &FILES[..2] {
            std::os::unix::fs::symlink(real.join(f), tmp.join(f)).expect("link");
        }
        std::fs::write(tmp.join(FILES[2]), bytes).expect("pack");
    }
    tmp.to_path_buf()
}

#[test]
fn espeak_ng_speaks_mandarin_when_kokoro_is_missing_or_broken() {
    let config = Config::default();
    for (why, pack) in [
        ("missing", None),
        ("broken voice pack", Some(&b"not a voice pack"[..])),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = models_without_kokoro(tmp.path(), pack);
        let speaker = VoiceSpeaker::load_voices(&config, &dir)
            .unwrap_or_else(|e| panic!("{why}: Mandarin must still have a voice: {e}"));
        let (samples, rate) = speaker
            .synthesize("好的，温度已设为二十二度。", &zh(), &CancelToken::new())
            .unwrap_or_else(|e| panic!("{why}: {e}"));
        eprintln!(
            "[figure] Kokoro {why}: {:.2} s at {rate} Hz",
            samples.len() as f32 / rate as f32
        );
        assert_ne!(rate, SAMPLE_RATE, "{why}: not Kokoro's 24 kHz");
        assert!(samples.len() > rate as usize / 2, "{why}: espeak-ng spoke");
    }
    // And with the files in place the speaker's Mandarin voice is Kokoro.
    let speaker = VoiceSpeaker::load_voices(&config, &models_dir()).expect("voices");
    let (_, rate) = speaker
        .synthesize("好的。", &zh(), &CancelToken::new())
        .expect("Kokoro");
    assert_eq!(rate, SAMPLE_RATE);
}
