//! Speech output on a real (null-sink) PulseAudio server started by the test: `skylark say`
//! and the D-Bus `Speak` play on the default sink, `speaker`, and `parec` records its monitor.
//! The recording must hold real signal of about the length of the speech, and `Cancel` must
//! stop it mid-sentence.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::pulse::{active_seconds, active_span, rms, PulseServer};
use common::*;

/// RMS of a 50 ms block above which it counts as sound (about -46 dBFS).
const SOUND: f32 = 0.005;

fn skylark(pulse: Option<&PulseServer>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(skylark_bin());
    cmd.args(args)
        .env("SKYLARK_MODELS_DIR", models_dir())
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test")
        .env_remove("PULSE_SERVER");
    if let Some(p) = pulse {
        p.apply(&mut cmd);
    }
    run(&mut cmd)
}

/// Length in seconds of what Piper makes of `text`, from `say --out`.
fn piper_seconds(text: &str) -> f32 {
    let tmp = tempfile::tempdir().expect("temp dir");
    let wav = tmp.path().join("ref.wav");
    ok(skylark(
        None,
        &["say", text, "--out", wav.to_str().expect("utf-8")],
    ));
    let r = hound::WavReader::open(&wav).expect("wav");
    r.duration() as f32 / r.spec().sample_rate as f32
}

fn assert_speech_like(samples: &[f32], expected: f32) {
    let span = active_span(samples, SOUND)
        .unwrap_or_else(|| panic!("nothing was played: RMS {}", rms(samples)));
    let len = span.1 - span.0;
    let (first, last) = (span.0, span.1);
    let voiced: Vec<f32> = samples
        [(first * 16000.0) as usize..((last * 16000.0) as usize).min(samples.len())]
        .to_vec();
    assert!(
        rms(&voiced) > 0.02,
        "too quiet to be speech: RMS {}",
        rms(&voiced)
    );
    assert!(
        len > expected * 0.7 && len < expected + 0.6,
        "played {len:.2} s of sound (from {first:.2} s to {last:.2} s), expected about {expected:.2} s"
    );
}

#[test]
fn say_plays_english_and_mandarin_on_the_speaker() {
    let text = "Turning on the air conditioning. The cabin will be cool soon.";
    let expected = piper_seconds(text);
    let pulse = PulseServer::start();

    let rec = pulse.record("speaker.monitor");
    let out = skylark(Some(&pulse), &["say", text]);
    let samples = rec.stop();
    assert!(out.status.success(), "say failed: {}", stderr(&out));
    assert_speech_like(&samples, expected);

    // Mandarin goes through espeak-ng (a separate process), on the same speaker.
    let rec = pulse.record("speaker.monitor");
    let out = skylark(Some(&pulse), &["say", "打开空调。", "--lang", "zh-CN"]);
    let samples = rec.stop();
    assert!(
        out.status.success(),
        "say --lang zh-CN failed: {}",
        stderr(&out)
    );
    assert!(
        active_seconds(&samples, SOUND) > 0.3,
        "no Mandarin speech heard: RMS {}",
        rms(&samples)
    );
}

/// `tts.volume` scales what reaches the speaker: a quarter of the volume is far quieter than
/// the full one (Piper's output varies a little from run to run, not by 4×).
#[test]
fn tts_volume_turns_speech_down() {
    let text = "Turning on the air conditioning.";
    let pulse = PulseServer::start();
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "[tts]\nvolume = 0.25\n").expect("config");
    let mut levels = Vec::new();
    for args in [
        vec!["say", text],
        vec!["--config", config.to_str().expect("utf-8"), "say", text],
    ] {
        let rec = pulse.record("speaker.monitor");
        let out = skylark(Some(&pulse), &args);
        let samples = rec.stop();
        assert!(out.status.success(), "say failed: {}", stderr(&out));
        let span = active_span(&samples, 0.001).expect("something was played");
        let voiced =
            &samples[(span.0 * 16000.0) as usize..((span.1 * 16000.0) as usize).min(samples.len())];
        levels.push(rms(voiced));
    }
    eprintln!("RMS at volume 1: {}, at 0.25: {}", levels[0], levels[1]);
    assert!(
        levels[1] > 0.0 && levels[1] < levels[0] * 0.5,
        "volume 0.25 played at RMS {} against {} at full volume",
        levels[1],
        levels[0]
    );
}

#[test]
fn say_without_a_sound_server_names_the_fix() {
    // No PulseAudio and no sound card: a clear error, exit 1, no panic.
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(skylark_bin());
    cmd.args(["say", "hello"])
        .env("SKYLARK_MODELS_DIR", models_dir())
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test")
        .env("XDG_RUNTIME_DIR", tmp.path())
        .env("PULSE_RUNTIME_PATH", tmp.path())
        .env("HOME", tmp.path())
        .env_remove("PULSE_SERVER");
    let out = run(&mut cmd);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    if out.status.success() {
        // This machine has a sound card after all; nothing to check.
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("audio output") && !text.contains("panicked"),
        "{text}"
    );
}

/// The D-Bus `Volume` property turns the daemon's speech down (and back up) without a restart.
#[test]
fn dbus_volume_property_turns_speech_down() {
    let text = "Turning on the air conditioning.";
    let pulse = PulseServer::start();
    let bus = Bus::start();
    let d = Daemon::start_with_models(&bus, "", &pulse.env());
    let mut monitor = Watcher::monitor(&bus);
    let mut level = |volume: &str| {
        ok(bus.busctl(&[
            "set-property",
            common::NAME,
            common::PATH,
            common::IFACE,
            "Volume",
            "d",
            volume,
        ]));
        let rec = pulse.record("speaker.monitor");
        let turn = turn_path_in(&ok(bus.gdbus_call("Speak", &[text, "{}"])));
        let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
        assert!(finished.contains("'ok'"), "{finished}\n{}", d.log());
        let samples = rec.stop();
        let span = active_span(&samples, 0.001).expect("something was played");
        let voiced =
            &samples[(span.0 * 16000.0) as usize..((span.1 * 16000.0) as usize).min(samples.len())];
        rms(voiced)
    };
    let full = level("1");
    let quarter = level("0.25");
    let again = level("1");
    eprintln!("RMS at Volume 1: {full}, 0.25: {quarter}, 1 again: {again}");
    assert!(
        quarter > 0.0 && quarter < full * 0.5 && quarter < again * 0.5,
        "Volume 0.25 played at RMS {quarter} against {full} / {again} at 1"
    );
}

/// `Speak` over D-Bus plays on the speaker and finishes `ok`; `Cancel` stops a long one
/// mid-sentence: it finishes `cancelled` and the speaker goes quiet.
#[test]
fn dbus_speak_plays_and_cancel_stops_it() {
    let pulse = PulseServer::start();
    let bus = Bus::start();
    let d = Daemon::start_with_models(&bus, "", &pulse.env());
    let mut monitor = Watcher::monitor(&bus);

    let text = "Your destination is twelve kilometres away.";
    let expected = piper_seconds(text);
    let rec = pulse.record("speaker.monitor");
    let out = ok(bus.gdbus_call("Speak", &[text, "{}"]));
    let turn = turn_path_in(&out);
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    let samples = rec.stop();
    assert!(finished.contains("'ok'"), "{finished}\n{}", d.log());
    assert_speech_like(&samples, expected);

    // A long answer, cancelled once it is audible.
    let long = "This is a long answer. It has many sentences, so that it plays for a long time. \
                The weather tomorrow will be sunny, with a light breeze from the west. \
                Temperatures will reach twenty four degrees in the afternoon. \
                In the evening clouds will come in from the sea, and it may rain at night.";
    let full = piper_seconds(long);
    let rec = pulse.record("speaker.monitor");
    let out = ok(bus.gdbus_call("Speak", &[long, "{}"]));
    let turn = turn_path_in(&out);
    let start = Instant::now();
    while active_seconds(&rec.samples(), SOUND) < 1.0 {
        assert!(
            start.elapsed() < PATIENCE,
            "the long answer never became audible\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ok(bus.gdbus_call("Cancel", &[&turn]));
    let at_cancel = rec.samples().len();
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(finished.contains("'cancelled'"), "{finished}");
    std::thread::sleep(Duration::from_millis(2500));
    let samples = rec.stop();
    let played = active_seconds(&samples, SOUND);
    assert!(
        played < full * 0.6,
        "{played:.2} s of {full:.2} s played despite Cancel"
    );
    // Quiet from shortly after the Cancel on.
    let after = &samples[(at_cancel + 16_000).min(samples.len())..];
    assert!(after.len() > 8_000, "recording too short after the cancel");
    assert!(
        active_seconds(after, SOUND) == 0.0,
        "still playing after Cancel: {:.2} s of sound",
        active_seconds(after, SOUND)
    );

    // And the speaker works for the next turn.
    let rec = pulse.record("speaker.monitor");
    let out = ok(bus.gdbus_call("Speak", &["Done.", "{'language': <'en'>}"]));
    let turn = turn_path_in(&out);
    let finished = monitor.wait_for(|l| l.contains(".TurnFinished") && l.contains(&turn));
    assert!(finished.contains("'ok'"), "{finished}");
    assert!(
        active_seconds(&rec.stop(), SOUND) > 0.1,
        "the turn after a Cancel was silent"
    );
}
