//! `skylark say` and `skylark transcribe` as a user runs them, on the real models: Piper speaks
//! a command, whisper hears it back.

use std::path::Path;
use std::process::{Command, Output};

fn skylark(args: &[&str], models_dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skylark"));
    cmd.args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test")
        .env_remove("ORT_DYLIB_PATH");
    if let Some(dir) = models_dir {
        cmd.env("SKYLARK_MODELS_DIR", dir);
    }
    cmd.output().expect("run skylark")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn piper_speech_is_transcribed_back_by_whisper() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wav = tmp.path().join("command.wav");
    let wav_s = wav.to_str().expect("utf8");
    let out = skylark(
        &[
            "say",
            "Set the temperature to twenty two degrees.",
            "--out",
            wav_s,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "say failed (run `skylark models fetch`?): {}",
        text(&out)
    );
    let spec = hound::WavReader::open(&wav).expect("a WAV file").spec();
    assert_eq!((spec.sample_rate, spec.channels), (22050, 1));

    let out = skylark(&["transcribe", wav_s], None);
    assert!(out.status.success(), "{}", text(&out));
    let heard = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(heard.contains("temperature"), "{heard}");
    assert!(
        heard.contains("22") || heard.contains("twenty-two") || heard.contains("twenty two"),
        "{heard}"
    );
    // stdout carries only the transcript: whisper.cpp's own logging stays off it.
    assert_eq!(heard.trim().lines().count(), 1, "{heard}");
}

#[test]
fn mandarin_clip_at_8_khz_gives_chinese_text() {
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio/zh_liliana.wav");
    let out = skylark(
        &[
            "transcribe",
            clip.to_str().expect("utf8"),
            "--lang",
            "zh-CN",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let heard = String::from_utf8_lossy(&out.stdout);
    assert!(
        heard
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{heard}"
    );
}

#[test]
fn malformed_wav_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEfmt garbage").expect("write");
    let out = skylark(&["transcribe", bad.to_str().expect("utf8")], None);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("bad.wav") && !t.contains("panicked"), "{t}");
}

#[test]
fn missing_models_name_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wav = tmp.path().join("x.wav");
    let out = skylark(
        &["say", "hello", "--out", wav.to_str().expect("utf8")],
        Some(tmp.path()),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("libonnxruntime.so") && t.contains("skylark models fetch"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");

    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio/jfk.wav");
    let out = skylark(
        &["transcribe", clip.to_str().expect("utf8")],
        Some(tmp.path()),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("ggml-tiny.en-q8_0.bin") && t.contains("skylark models fetch"),
        "{t}"
    );
}

#[test]
fn recognize_audio_transcribes_then_finds_the_intent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wav = tmp.path().join("ac.wav");
    let wav_s = wav.to_str().expect("utf8");
    let out = skylark(
        &["say", "Turn on the air conditioning.", "--out", wav_s],
        None,
    );
    assert!(
        out.status.success(),
        "say failed (run `skylark models fetch`?): {}",
        text(&out)
    );

    let out = skylark(&["recognize", "--audio", wav_s, "--json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(v["intent"], "climate.set_ac", "{v}");
    assert_eq!(v["slots"]["state"], "on", "{v}");
    assert_eq!(v["source"], "grammar", "{v}");
    assert!(
        v["text"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("air conditioning"),
        "{v}"
    );

    // The text form: the transcript, a tab, then what `recognize TEXT` prints.
    let out = skylark(&["recognize", "--audio", wav_s], None);
    assert!(out.status.success(), "{}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (heard, result) = line
        .split_once('\t')
        .unwrap_or_else(|| panic!("no tab: {line}"));
    assert!(heard.to_lowercase().contains("air conditioning"), "{line}");
    assert!(result.starts_with("climate.set_ac state=on"), "{line}");

    // A file that is not audio is an error naming it.
    let bad = tmp.path().join("bad.wav");
    std::fs::write(&bad, b"not audio").expect("write");
    let out = skylark(&["recognize", "--audio", bad.to_str().expect("utf8")], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("bad.wav"), "{}", text(&out));
}

/// espeak-ng's voice (another synthesiser than Piper, formant rather than neural) all the way
/// to the intent: `skylark recognize --audio` hears each command and finds its intent and slots.
#[test]
fn espeak_commands_reach_their_intents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, serde_json::Value)]);
    let cases: [Case; 6] = [
        (
            "set the temperature to twenty two degrees",
            "climate.set_temperature",
            &[("temperature", serde_json::json!(22))],
        ),
        (
            "open the driver window",
            "window.open",
            &[("window", serde_json::json!("driver"))],
        ),
        (
            "turn on the air conditioning",
            "climate.set_ac",
            &[("state", serde_json::json!("on"))],
        ),
        ("next song", "media.next", &[]),
        (
            "what's the weather tomorrow",
            "weather.get",
            &[("date", serde_json::json!("tomorrow"))],
        ),
        (
            "call mom",
            "phone.call",
            &[("contact", serde_json::json!("mom"))],
        ),
    ];
    for (i, (sentence, intent, slots)) in cases.iter().enumerate() {
        let wav = tmp.path().join(format!("espeak-{i}.wav"));
        // 140 words a minute, as the ASR tests: espeak's default 175 is hard for tiny.en.
        let status = Command::new("espeak-ng")
            .args(["-s", "140", "-w"])
            .arg(&wav)
            .arg(sentence)
            .status()
            .expect("espeak-ng must be installed (Debian package `espeak-ng`)");
        assert!(status.success(), "espeak-ng failed for {sentence:?}");
        let out = skylark(
            &[
                "recognize",
                "--audio",
                wav.to_str().expect("utf8"),
                "--json",
            ],
            None,
        );
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        assert_eq!(v["intent"], *intent, "{sentence:?}: {v}");
        assert_eq!(v["source"], "grammar", "{sentence:?}: {v}");
        for (k, want) in *slots {
            assert_eq!(&v["slots"][k], want, "{sentence:?}: {v}");
        }
    }
}
