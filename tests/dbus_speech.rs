//! `Transcribe` over D-Bus on the real whisper models: a real `skylark daemon` on a private
//! bus, driven by the Python jeepney client (tests/clients/transcribe.py), which passes real
//! file descriptors (files, pipes, a directory, a socket). Good audio must come back as its
//! words; bad audio must be a named error — and the daemon must serve the next call.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const CONFIG: &str = "";

fn sox(args: &[&str]) {
    ok(run(Command::new("sox").args(args)));
}

/// Calls Transcribe through the jeepney client; returns its JSON reply.
fn transcribe(bus: &Bus, file: &Path, extra: &[&str]) -> serde_json::Value {
    let out = ok(run(bus
        .command(python().to_str().expect("utf-8"))
        .arg(client_script("transcribe.py"))
        .arg(file)
        .args(extra)));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn text_of(reply: &serde_json::Value) -> String {
    reply["text"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a transcript, got {reply}"))
        .to_lowercase()
}

fn assert_error(reply: &serde_json::Value, name: &str, needle: &str) {
    assert_eq!(
        reply["error"],
        format!("io.skylark.Assistant1.Error.{name}"),
        "{reply}"
    );
    let msg = reply["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(needle),
        "message should mention {needle:?}: {reply}"
    );
}

fn heard_window_command(reply: &serde_json::Value) {
    let t = text_of(reply);
    assert!(t.contains("open") && t.contains("window"), "{reply}");
}

#[test]
fn transcribe_good_and_bad_audio_over_dbus() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let bus = Bus::start();
    let d = Daemon::start_with_models(&bus, CONFIG, &[]);

    // A Piper clip (22.05 kHz) from a file, then through a pipe.
    let reply = transcribe(&bus, &clip, &[]);
    heard_window_command(&reply);
    eprintln!(
        "Transcribe of a {:.2} s clip took {} s",
        hound::WavReader::open(&clip).expect("wav").duration() as f64 / 22050.0,
        reply["seconds"]
    );
    heard_window_command(&transcribe(&bus, &clip, &["--via", "pipe"]));

    // Raw s16le 16 kHz mono with format=raw.
    let raw = tmp.path().join("clip.raw");
    sox(&[
        clip.to_str().unwrap(),
        "-r",
        "16000",
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        "-t",
        "raw",
        raw.to_str().unwrap(),
    ]);
    heard_window_command(&transcribe(&bus, &raw, &["--format", "raw"]));
    // The same bytes without format=raw are not a WAV: the error says how to pass raw audio.
    assert_error(
        &transcribe(&bus, &raw, &[]),
        "InvalidArgument",
        "format=raw",
    );

    // 48 kHz stereo, 24-bit: resampled and mixed down.
    let stereo = tmp.path().join("stereo48k.wav");
    sox(&[
        clip.to_str().unwrap(),
        "-r",
        "48000",
        "-c",
        "2",
        "-b",
        "24",
        stereo.to_str().unwrap(),
    ]);
    heard_window_command(&transcribe(&bus, &stereo, &[]));

    // An English daemon holds only the English model until Mandarin is asked for.
    let loads = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("speech model loaded"))
            .map(str::to_string)
            .collect()
    };
    let before = loads(&d.log());
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].contains("ggml-tiny.en-q8_0.bin"), "{before:?}");

    // 8 kHz Mandarin with language=zh-CN: Chinese characters come back, from whisper base
    // loaded on this first use.
    let zh = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio/zh_liliana.wav");
    let reply = transcribe(&bus, &zh, &["--language", "zh-CN"]);
    let t = text_of(&reply);
    assert!(
        t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{reply}"
    );
    let after = loads(&d.log());
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after[1].contains("ggml-base-q8_0.bin"), "{after:?}");

    // Truncated: the header promises more data than there is; and a header cut short.
    let bytes = std::fs::read(&clip).expect("read clip");
    let cut = tmp.path().join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 1]).expect("write");
    assert_error(&transcribe(&bus, &cut, &[]), "InvalidArgument", "truncated");
    std::fs::write(&cut, &bytes[..30]).expect("write");
    assert_error(&transcribe(&bus, &cut, &[]), "InvalidArgument", "WAV");

    // Malformed bytes, zero bytes (as WAV and as raw), an odd raw byte count.
    let junk = tmp.path().join("junk.wav");
    std::fs::write(
        &junk,
        b"RIFF\x10\x00\x00\x00WAVEfmt garbage that is not a header",
    )
    .expect("write");
    assert_error(&transcribe(&bus, &junk, &[]), "InvalidArgument", "WAV");
    let empty = tmp.path().join("empty.wav");
    std::fs::write(&empty, b"").expect("write");
    assert_error(&transcribe(&bus, &empty, &[]), "InvalidArgument", "empty");
    assert_error(
        &transcribe(&bus, &empty, &["--format", "raw"]),
        "InvalidArgument",
        "empty",
    );
    let odd = tmp.path().join("odd.raw");
    std::fs::write(&odd, [1u8, 2, 3]).expect("write");
    assert_error(
        &transcribe(&bus, &odd, &["--format", "raw"]),
        "InvalidArgument",
        "truncated",
    );

    // Descriptors that are not a readable file or pipe: refused before any read (a silent
    // socket would otherwise block a thread for ever).
    assert_error(
        &transcribe(&bus, tmp.path(), &["--via", "dir"]),
        "InvalidArgument",
        "directory",
    );
    assert_error(
        &transcribe(&bus, &clip, &["--via", "socket"]),
        "InvalidArgument",
        "socket",
    );

    // Unknown options are named.
    assert_error(
        &transcribe(&bus, &clip, &["--format", "mp3"]),
        "InvalidArgument",
        "mp3",
    );
    assert_error(
        &transcribe(&bus, &clip, &["--language", "fr"]),
        "InvalidArgument",
        "fr",
    );

    // After all that, the daemon still serves.
    heard_window_command(&transcribe(&bus, &clip, &[]));
    let mut d = d;
    assert!(d.running(), "the daemon died; its log:\n{}", d.log());
}

/// Ten minutes (the default `asr.max_audio_seconds`) give a correct result; more is refused
/// with the limit named, before the audio is read.
#[test]
fn ten_minutes_of_audio_is_the_limit() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let clip16 = tmp.path().join("clip16.wav");
    sox(&[
        clip.to_str().unwrap(),
        "-r",
        "16000",
        "-c",
        "1",
        "-b",
        "16",
        clip16.to_str().unwrap(),
    ]);
    let clip_frames = u64::from(hound::WavReader::open(&clip16).expect("wav").duration());
    // The command after 0.5 s of silence, then silence up to exactly 600 s, counted in samples
    // (Piper's takes vary in length; seconds with decimals would round).
    let long = tmp.path().join("ten_minutes.wav");
    let pad = format!("{}s", 600 * 16000 - clip_frames - 8000);
    sox(&[
        clip16.to_str().unwrap(),
        long.to_str().unwrap(),
        "pad",
        "8000s",
        &pad,
    ]);
    let frames = hound::WavReader::open(&long).expect("wav").duration();
    assert_eq!(
        frames,
        600 * 16000,
        "the test clip should be exactly 10 minutes"
    );
    let too_long = tmp.path().join("too_long.wav");
    sox(&[
        long.to_str().unwrap(),
        too_long.to_str().unwrap(),
        "pad",
        "0",
        "1",
    ]);

    let bus = Bus::start();
    let _d = Daemon::start_with_models(&bus, CONFIG, &[]);
    let reply = transcribe(&bus, &long, &[]);
    heard_window_command(&reply);
    eprintln!("Transcribe of 10 minutes took {} s", reply["seconds"]);
    assert_error(
        &transcribe(&bus, &too_long, &[]),
        "InvalidArgument",
        "asr.max_audio_seconds",
    );
    // Through a pipe with a WAV header that cannot say its length (as sox writes to a pipe):
    // read up to the cap, then refused.
    let streamed = tmp.path().join("streamed.wav");
    let mut bytes = std::fs::read(&too_long).expect("read");
    bytes[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
    std::fs::write(&streamed, &bytes).expect("write");
    assert_error(
        &transcribe(&bus, &streamed, &["--via", "pipe"]),
        "InvalidArgument",
        "asr.max_audio_seconds",
    );
}

/// A daemon without the speech models serves text, and Transcribe is NotReady naming the
/// model file and the fix.
#[test]
fn missing_model_is_not_ready_with_the_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let bus = Bus::start();
    let d = Daemon::start(&bus, CONFIG); // an empty models dir
    let reply = transcribe(&bus, &clip, &[]);
    assert_error(&reply, "NotReady", "ggml-tiny.en-q8_0.bin");
    assert_error(&reply, "NotReady", "skylark models fetch");
    let out = ok(bus.gdbus_call("Recognize", &["turn on the air conditioning", "{}"]));
    assert!(out.contains("climate.set_ac"), "{out}\n{}", d.log());
}

/// Faults while the daemon runs: the Mandarin model deleted, then corrupted, before its first
/// use. `Transcribe` in Mandarin says which file is wrong; English and text keep working; the
/// model put back is picked up on the next call, without a restart.
#[test]
fn a_model_deleted_or_corrupted_while_running_takes_only_its_language() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // The installed models, linked; whisper's folder holds its own links so one can go.
    let models = tmp.path().join("models");
    std::fs::create_dir_all(models.join("whisper")).expect("models dir");
    for entry in std::fs::read_dir(models_dir()).expect("installed models") {
        let entry = entry.expect("entry");
        if entry.file_name() == "whisper" {
            for f in std::fs::read_dir(entry.path()).expect("whisper models") {
                let f = f.expect("entry");
                std::os::unix::fs::symlink(f.path(), models.join("whisper").join(f.file_name()))
                    .expect("link");
            }
        } else {
            std::os::unix::fs::symlink(entry.path(), models.join(entry.file_name())).expect("link");
        }
    }
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let zh = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio/zh_liliana.wav");
    let bus = Bus::start();
    let d = Daemon::spawn_with(&bus, CONFIG, &[], Some(&models), &[]);
    d.wait_ready(&bus);

    let base = models.join("whisper/ggml-base-q8_0.bin");
    let real = std::fs::read_link(&base).expect("a link to the installed model");
    std::fs::remove_file(&base).expect("delete");
    let reply = transcribe(&bus, &zh, &["--language", "zh-CN"]);
    assert_error(&reply, "NotReady", "ggml-base-q8_0.bin");
    assert_error(&reply, "NotReady", "skylark models fetch");
    heard_window_command(&transcribe(&bus, &clip, &[]));

    std::fs::write(&base, vec![7u8; 4096]).expect("corrupt");
    let reply = transcribe(&bus, &zh, &["--language", "zh-CN"]);
    assert_error(&reply, "Failed", "ggml-base-q8_0.bin");
    heard_window_command(&transcribe(&bus, &clip, &[]));
    let out = ok(bus.gdbus_call("Recognize", &["turn on the air conditioning", "{}"]));
    assert!(out.contains("climate.set_ac"), "{out}");

    std::fs::remove_file(&base).expect("remove the corrupt file");
    std::os::unix::fs::symlink(&real, &base).expect("put the model back");
    let reply = transcribe(&bus, &zh, &["--language", "zh-CN"]);
    let t = text_of(&reply);
    assert!(
        t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{reply}\n{}",
        d.log()
    );
}

/// Faults while the daemon runs (#17): the file of every model it has loaded — whisper tiny.en,
/// the lite LLM, the semantic model and its tokenizer, the Piper voice — replaced by a
/// different file under the same name (a new inode, as a botched update leaves it). The
/// running daemon keeps serving from what it loaded: grammar, semantic tier and LLM
/// (`Recognize`; the LLM asked about a question no tier places), English speech (`Transcribe`); it reads none of those files again (whisper
/// holds its weights, ONNX Runtime maps its own cached optimised copy). Restarted on the
/// replaced files, it does not serve the old model from that cache: it starts, says which
/// files are broken, and serves the grammar and English speech (whisper base standing in).
#[test]
fn loaded_models_replaced_while_running_keep_serving_until_a_restart_names_them() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let installed = models_dir();
    let models = tmp.path().join("models");
    // Each model file linked on its own, so each can be replaced.
    let link_tree = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).expect("models dir");
        for entry in std::fs::read_dir(from).expect("installed models") {
            let entry = entry.expect("entry");
            std::os::unix::fs::symlink(entry.path(), to.join(entry.file_name())).expect("link");
        }
    };
    link_tree(&installed, &models);
    for dir in [
        "whisper",
        "tts",
        "llm/smollm2-135m-instruct",
        "embedding/multilingual-e5-small",
    ] {
        let top = dir.split('/').next().expect("top folder");
        std::fs::remove_file(models.join(top)).ok();
        link_tree(&installed.join(dir), &models.join(dir));
    }
    let llm_dir = installed.join("llm");
    for entry in std::fs::read_dir(&llm_dir).expect("llm models") {
        let entry = entry.expect("entry");
        let to = models.join("llm").join(entry.file_name());
        if !to.exists() {
            std::os::unix::fs::symlink(entry.path(), to).expect("link");
        }
    }
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let bus = Bus::start();
    let d = Daemon::spawn_with(&bus, CONFIG, &[], Some(&models), &[]);
    d.wait_ready(&bus);
    d.wait_llm_ready();
    let t = std::time::Instant::now();
    while !d.log().contains("semantic tier ready") {
        assert!(t.elapsed() < PATIENCE, "no semantic tier:\n{}", d.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let replaced = [
        "whisper/ggml-tiny.en-q8_0.bin",
        "tts/en_US-joe-medium.onnx",
        "llm/smollm2-135m-instruct/model.onnx",
        "embedding/multilingual-e5-small/model.onnx",
        "embedding/multilingual-e5-small/tokenizer.json",
    ];
    for file in replaced {
        let path = models.join(file);
        std::fs::remove_file(&path).expect("remove the link");
        std::fs::write(&path, vec![7u8; 4096]).expect("a different file in its place");
    }

    let serves = |bus: &Bus, d: &Daemon| {
        let out = bus.recognize("turn on the air conditioning");
        assert!(out.contains("\"climate.set_ac\""), "{out}\n{}", d.log());
        let out = bus.recognize("my butt is cold, heat my seat");
        assert!(out.contains("\"seat.set_heating\""), "{out}\n{}", d.log());
        // No tier places a question: the LLM is asked (and runs: its verdict is logged).
        let asked = |d: &Daemon| d.log().matches("LLM intent named=").count();
        let before = asked(d);
        let out = bus.recognize("what is the capital of france");
        assert!(out.trim_end().ends_with(r#""none""#), "{out}\n{}", d.log());
        assert!(asked(d) > before, "the LLM did not run:\n{}", d.log());
        heard_window_command(&transcribe(bus, &clip, &[]));
    };
    serves(&bus, &d);
    // Twice: nothing was read lazily from the replaced files on the first call either.
    serves(&bus, &d);
    drop(d);

    // Restarted on the replaced files: the cached optimised forms are of the old files and
    // are not used; each broken model is named, and the grammar still answers.
    let bus = Bus::start();
    let d = Daemon::spawn_with(&bus, CONFIG, &[], Some(&models), &[]);
    d.wait_ready(&bus);
    let t = std::time::Instant::now();
    while !(d.log().contains("lite LLM is not available")
        && d.log().contains("semantic tier is not available"))
    {
        assert!(
            t.elapsed() < PATIENCE,
            "no verdict on the models:\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = d.log();
    for file in [
        "ggml-tiny.en-q8_0.bin",
        "smollm2-135m-instruct/model.onnx",
        "multilingual-e5-small/tokenizer.json",
    ] {
        assert!(log.contains(file), "the log does not name {file}:\n{log}");
    }
    let out = bus.recognize("turn on the air conditioning");
    assert!(out.contains("\"climate.set_ac\""), "{out}\n{log}");
    // English speech falls back to the multilingual model (whisper base), as it does for a
    // missing tiny.en.
    heard_window_command(&transcribe(&bus, &clip, &[]));
}
