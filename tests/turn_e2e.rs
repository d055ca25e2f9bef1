//! A whole spoken turn on the real sound server, as a driver has it: "hey livekit", a pause,
//! "turn on the air conditioning" played into the virtual microphone; the daemon (real models,
//! private dbus-daemon, private PulseAudio with null sinks) hears the wake word and the
//! command, a registered handler (`tests/clients/handler.py`, jeepney) gets
//! `climate.set_ac` and answers with its own sentence, and that sentence is spoken: what
//! arrives on the `speaker` sink is recorded and transcribed by whisper, and must be the
//! handler's reply.
//!
//! `cargo test --release --test turn_e2e`

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pulse::{active_seconds, PulseServer};
use common::{handler_client, is_set_ac_on, ok, words, Bus, Daemon, Watcher, PATIENCE};

/// Bounds a turn's signals (whisper and Piper on a loaded 2-core machine); not a figure.
const SPEECH_PATIENCE: Duration = Duration::from_secs(240);
/// Level above which a recorded sample counts as sound.
const SOUND: f32 = 0.005;
/// What the climate service answers: words the catalog's own response does not use.
const REPLY: &str = "Cooling the cabin down for you, enjoy the fresh air.";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn wake_word_command_handler_and_its_spoken_reply() {
    let pulse = PulseServer::start();
    let bus = Bus::start();
    let config = "[audio]\ninput_device = \"vmic.monitor\"\n\
                  [wakeword]\nenabled = true\nthreshold = 0.6\n\
                  [vad]\nstart_timeout_ms = 4000\n\
                  [asr]\nthreads = 1\npartial_interval_ms = 0\n";
    let daemon = Daemon::start_with_models(&bus, config, &pulse.env());
    let start = Instant::now();
    while !daemon.log().contains("microphone open") {
        assert!(
            start.elapsed() < PATIENCE,
            "the microphone never opened\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut monitor = Watcher::monitor(&bus);
    let mut handler = handler_client(
        &bus,
        &[
            "--intent",
            "climate.set_ac",
            "--mode",
            "reply",
            "--speech",
            REPLY,
        ],
    );
    handler.wait_for(|l| l.contains("\"registered\""));

    let speaker = pulse.record("speaker.monitor");
    ok(pulse.play_into("vmic", &data("wakeword/positive.wav")));
    std::thread::sleep(Duration::from_millis(400)); // the speaker's pause after the wake word
    ok(pulse.play_into("vmic", &data("listen/turn_on_the_air_conditioning.wav")));

    let wake = monitor.wait_for_within(SPEECH_PATIENCE, |l| l.contains(".WakeWordDetected"));
    assert!(wake.contains("'hey_livekit'"), "{wake}");
    let intent = monitor.wait_for_within(SPEECH_PATIENCE, |l| l.contains(".IntentRecognized"));
    assert!(is_set_ac_on(&intent), "{intent}\n{}", daemon.log());
    let handled = handler.wait_for_within(SPEECH_PATIENCE, |l| l.contains("\"handle\""));
    assert!(
        handled.contains("\"climate.set_ac\"") && handled.contains("\"on\""),
        "{handled}"
    );
    let finished = monitor.wait_for_within(SPEECH_PATIENCE, |l| l.contains(".TurnFinished"));
    assert!(
        finished.contains("'ok'") && finished.contains(REPLY),
        "{finished}\n{}",
        daemon.log()
    );

    // Playback has ended with the turn; what reached the speaker is the handler's reply.
    let heard = speaker.stop();
    let seconds = active_seconds(&heard, SOUND);
    assert!(
        seconds > 1.0,
        "only {seconds:.2} s of sound reached the speaker"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("speaker.wav");
    skylark::audio::write_wav(&wav, &heard, 16_000).expect("write the recording");
    let out = ok(common::run(
        Command::new(common::skylark_bin())
            .args(["transcribe", "--lang", "en"])
            .arg(&wav)
            .env("SKYLARK_MODELS_DIR", common::models_dir()),
    ));
    let said = words(&out);
    let expected = words(REPLY);
    let found = expected.iter().filter(|w| said.contains(w)).count();
    eprintln!("speaker: {seconds:.1} s of sound, heard back as {out:?}");
    assert!(
        found * 10 >= expected.len() * 7,
        "the speaker said {out:?}, not the handler's {REPLY:?} ({found} of {} words)",
        expected.len()
    );
}
