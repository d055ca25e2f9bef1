//! The listening loop on real models and real speech, without a sound server: recorded audio
//! is fed as if live (`ClipSource`), through Silero VAD, the wake-word detector and whisper.

use std::path::{Path, PathBuf};

use skylark::asr::{AsrOptions, TranscribeOptions, WhisperRecognizer};
use skylark::audio::{push_source, read_wav, ClipSource};
use skylark::listen::{ListenConfig, Listener, SileroVad, WakeWordDetector};

fn models() -> PathBuf {
    let dir = skylark::models::default_models_dir();
    if let Err(e) = skylark::onnx::init(&dir) {
        panic!("{e}");
    }
    dir
}

fn model(rel: &str) -> PathBuf {
    let p = models().join(rel);
    assert!(
        p.is_file(),
        "model missing at {}: run `skylark models fetch`",
        p.display()
    );
    p
}

fn wake_word() -> WakeWordDetector {
    let mut w = WakeWordDetector::load(
        &model("wakeword/melspectrogram.onnx"),
        &model("wakeword/embedding_model.onnx"),
        &[("hey_livekit", model("wakeword/hey_livekit.onnx"), 0.6)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    w.set_refractory_ms(2000);
    w
}

fn silence(ms: usize) -> Vec<f32> {
    vec![0.0; ms * 16]
}

/// "turn on the air conditioning" by the Piper voice, at 16 kHz (a fixture: Piper's output
/// varies from call to call, see tests/data/listen/README.md).
fn command() -> Vec<f32> {
    read_wav(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/listen/turn_on_the_air_conditioning.wav"),
    )
    .unwrap()
}

fn positive() -> Vec<f32> {
    read_wav(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wakeword/positive.wav"))
        .unwrap()
}

fn listener(clip: Vec<f32>, wake: bool, config: ListenConfig) -> Listener {
    let vad = SileroVad::load(&model("vad/silero_vad.onnx")).unwrap_or_else(|e| panic!("{e}"));
    let wake = wake.then(wake_word);
    // 20 ms reads, like the microphone's callbacks.
    Listener::new(
        Box::new(ClipSource::new(clip, 320)),
        Box::new(vad),
        wake,
        config,
    )
}

fn transcribe(audio: &[f32]) -> String {
    let whisper = WhisperRecognizer::load(
        &model("whisper/ggml-tiny.en-q8_0.bin"),
        &AsrOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    whisper
        .transcribe(audio, &TranscribeOptions::default())
        .unwrap()
        .text
        .to_lowercase()
}

fn concat(parts: &[Vec<f32>]) -> Vec<f32> {
    parts.concat()
}

#[test]
fn wake_word_then_command_captures_just_the_command() {
    let cmd = command();
    let clip = concat(&[
        silence(500),
        positive(),
        silence(400),
        cmd.clone(),
        silence(2000),
    ]);
    let l = listener(clip, true, ListenConfig::default());
    let d = l
        .wait_for_wake_word(&|| true)
        .unwrap()
        .expect("the wake word was not heard");
    assert_eq!(d.keyword, "hey_livekit");
    let mut partials = Vec::new();
    let utterance = l
        .capture_utterance(&|| false, &mut |so_far| partials.push(so_far.len()))
        .unwrap();
    // The command plus pre-/post-roll, not the keyword: well under keyword + command.
    let secs = utterance.len() as f32 / 16_000.0;
    let cmd_secs = cmd.len() as f32 / 16_000.0;
    assert!(
        secs > cmd_secs * 0.8 && secs < cmd_secs + 1.0,
        "utterance {secs} s for a {cmd_secs} s command"
    );
    let text = transcribe(&utterance);
    assert!(text.contains("air conditioning"), "{text}");
    assert!(
        !text.contains("kit"),
        "the keyword leaked into the command: {text}"
    );
    // Partials every second of speech, each longer than the last.
    assert!(
        !partials.is_empty(),
        "no partial for a {cmd_secs} s command"
    );
    assert!(partials.windows(2).all(|w| w[0] < w[1]), "{partials:?}");
}

#[test]
fn command_right_after_the_wake_word_is_kept() {
    // No pause between keyword and command: the loop must not throw the command's start away.
    let clip = concat(&[silence(500), positive(), command(), silence(2000)]);
    let l = listener(clip, true, ListenConfig::default());
    l.wait_for_wake_word(&|| true)
        .unwrap()
        .expect("the wake word was not heard");
    let utterance = l.capture_utterance(&|| false, &mut |_| {}).unwrap();
    let text = transcribe(&utterance);
    assert!(text.contains("air conditioning"), "{text}");
}

#[test]
fn push_to_talk_silence_times_out_empty() {
    let config = ListenConfig {
        start_timeout_ms: 1000,
        ..ListenConfig::default()
    };
    let l = listener(silence(100), false, config);
    let utterance = l.capture_utterance(&|| false, &mut |_| {}).unwrap();
    assert!(
        utterance.is_empty(),
        "{} samples from silence",
        utterance.len()
    );
}

#[test]
fn push_to_talk_ends_at_end_of_speech() {
    let cmd = command();
    let l = listener(
        concat(&[silence(300), cmd.clone(), silence(3000)]),
        false,
        ListenConfig::default(),
    );
    let utterance = l.capture_utterance(&|| false, &mut |_| {}).unwrap();
    let secs = utterance.len() as f32 / 16_000.0;
    let cmd_secs = cmd.len() as f32 / 16_000.0;
    assert!(
        secs > cmd_secs * 0.8 && secs < cmd_secs + 0.8,
        "utterance {secs} s for a {cmd_secs} s command"
    );
    assert!(transcribe(&utterance).contains("air conditioning"));
}

#[test]
fn cancel_stops_a_capture() {
    let l = listener(silence(100), false, ListenConfig::default());
    let utterance = l.capture_utterance(&|| true, &mut |_| {}).unwrap();
    assert!(utterance.is_empty());
}

#[test]
fn wake_word_wait_yields_when_told_to() {
    let l = listener(silence(100), true, ListenConfig::default());
    assert!(l.wait_for_wake_word(&|| false).unwrap().is_none());
}

/// An app that pushes its own audio (Android's `feedAudio`) starts push-to-talk and pushes the
/// whole command at once, while the wake-word loop was still waiting on its last read: that
/// read must not swallow the command. Before the fix the wake-word wait took the audio as its
/// own and the capture heard nothing (the Java API's `synthesize_then_hear_it` hung for 60 s
/// once in a full run).
#[test]
fn push_to_talk_gets_audio_the_wake_word_wait_read() {
    let (source, pusher) = push_source();
    let vad = SileroVad::load(&model("vad/silero_vad.onnx")).unwrap_or_else(|e| panic!("{e}"));
    let l = std::sync::Arc::new(Listener::new(
        Box::new(source),
        Box::new(vad),
        Some(wake_word()),
        ListenConfig::default(),
    ));
    let waiting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let wait = {
        let (l, waiting) = (l.clone(), waiting.clone());
        std::thread::spawn(move || {
            l.wait_for_wake_word(&|| waiting.load(std::sync::atomic::Ordering::SeqCst))
        })
    };
    // The wait is now blocked in its one-second read; push-to-talk starts, then the command.
    std::thread::sleep(std::time::Duration::from_millis(300));
    waiting.store(false, std::sync::atomic::Ordering::SeqCst);
    let pcm: Vec<i16> = concat(&[silence(300), command(), silence(2000)])
        .iter()
        .map(|s| (s * 32767.0) as i16)
        .collect();
    pusher.push(&pcm, 16_000).unwrap();
    assert!(wait.join().unwrap().unwrap().is_none(), "no wake word");
    // Without the audio the capture would wait for it for ever (an app's pushed audio is its
    // only clock): give up after 20 s.
    let start = std::time::Instant::now();
    let give_up = || start.elapsed() > std::time::Duration::from_secs(20);
    let utterance = l.capture_utterance(&give_up, &mut |_| {}).unwrap();
    assert!(!utterance.is_empty(), "the capture heard nothing in 20 s");
    assert!(
        transcribe(&utterance).contains("air conditioning"),
        "the capture heard the command ({} samples)",
        utterance.len()
    );
}

/// Barge-in by voice (`tts.barge_in = "voice"`; nothing is playing in this process, so the
/// echo gate predicts no echo): the watch returns on the command's first syllables, and the
/// capture that follows starts from the speech already heard, so whisper hears the whole
/// command, its first word included.
#[test]
fn voice_barge_in_keeps_the_start_of_the_command() {
    use skylark::listen::{BargeIn, BargeMode};
    let mut clip = silence(600);
    clip.extend(command());
    clip.extend(silence(1500));
    let config = ListenConfig {
        barge_in: BargeMode::Voice,
        ..ListenConfig::default()
    };
    let l = listener(clip, false, config);
    let barge = l
        .watch_for_barge_in(&|| true, false)
        .unwrap_or_else(|e| panic!("{e}"));
    match barge {
        Some(BargeIn::Voice { onset_ms }) => assert!(onset_ms <= 100, "{onset_ms}"),
        other => panic!("expected a voice barge-in, got {other:?}"),
    }
    let audio = l
        .capture_utterance(&|| false, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let text = transcribe(&audio);
    assert!(text.contains("turn on the air conditioning"), "{text:?}");
}

/// `wake` mode without a wake word, and `off`, do not listen while the assistant speaks.
#[test]
fn barge_in_off_or_without_a_wake_word_returns_at_once() {
    use skylark::listen::BargeMode;
    for mode in [BargeMode::Off, BargeMode::Wake] {
        let config = ListenConfig {
            barge_in: mode,
            ..ListenConfig::default()
        };
        let l = listener(command(), false, config);
        let r = l
            .watch_for_barge_in(&|| true, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.is_none(), "{mode:?}: {r:?}");
    }
}
