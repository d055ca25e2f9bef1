//! A careless or hostile client against the real `skylark` (issue "Hardening"): each input is
//! built here, each must end in a clear error or a bounded outcome — never an abort, a panic
//! text or unbounded memory — and afterwards the daemon (or the CLI) still recognises a
//! command correctly.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

const COMMAND: &str = "set the temperature to 22 degrees";

/// `skylark ARGS` in process (no daemon), on the installed models.
fn skylark(args: &[&str]) -> Output {
    run(Command::new(skylark_bin())
        .args(args)
        .env("SKYLARK_MODELS_DIR", models_dir())
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test"))
}

/// The CLI still understands a command.
fn cli_still_recognizes() {
    let out = ok(skylark(&["recognize", COMMAND, "--json"]));
    assert!(out.contains("climate.set_temperature"), "{out}");
}

/// The daemon still answers `Recognize` correctly.
fn daemon_still_recognizes(bus: &Bus, d: &mut Daemon) {
    assert!(d.running(), "the daemon died; its log:\n{}", d.log());
    let out = bus.recognize(COMMAND);
    assert!(
        out.contains("climate.set_temperature") && out.contains("grammar"),
        "{out}"
    );
}

/// The CLI failed with a message (exit 1), not a signal or a panic (101).
fn refused(out: &Output, needle: &str) -> String {
    let text = format!("{}{}", stdout(out), stderr(out));
    assert_eq!(out.status.code(), Some(1), "expected exit 1: {out:?}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.contains(needle), "should mention {needle:?}: {text}");
    text
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p.to_str().expect("utf-8").to_string()
}

fn wav(rate: u32, format: hound::SampleFormat, bits: u16, samples: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: format,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cur, spec).expect("wav writer");
        for &s in samples {
            match format {
                hound::SampleFormat::Float => w.write_sample(s).expect("sample"),
                hound::SampleFormat::Int => w.write_sample((s * 8000.0) as i16).expect("sample"),
            }
        }
        w.finalize().expect("finalize");
    }
    cur.into_inner()
}

fn tone(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.05).sin() * 0.3).collect()
}

/// Transcribe through the jeepney client; its JSON reply.
fn transcribe(bus: &Bus, file: &str, extra: &[&str]) -> serde_json::Value {
    let out = ok(run(bus
        .command(python().to_str().expect("utf-8"))
        .arg(client_script("transcribe.py"))
        .arg(file)
        .args(extra)));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
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
    assert!(!msg.contains("panicked"), "{reply}");
}

/// 1 and 2: grammars that overflowed the stack (`- - - … x` on one line) or expanded aliases
/// exponentially; and a grammar error quoting a 1 MB template.
#[test]
fn hostile_grammars_are_named_errors() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let deep = write(
        tmp.path(),
        "deep.yaml",
        format!("{}x\n", "- ".repeat(30_000)).as_bytes(),
    );
    let text = refused(
        &skylark(&["recognize", "--intents", &deep, "hello"]),
        "nesting deeper than 64",
    );
    assert!(text.contains("deep.yaml:1:"), "{text}");

    let mut laughs = String::from("language: en\na0: &a0 [\"lol\"]\n");
    for i in 1..8 {
        laughs.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 9].join(", ")
        ));
    }
    let laughs = write(tmp.path(), "laughs.yaml", laughs.as_bytes());
    let text = refused(
        &skylark(&["recognize", "--intents", &laughs, "hello"]),
        "aliases expand",
    );
    assert!(text.contains("laughs.yaml:"), "{text}");

    let huge = format!(
        "language: en\nintents:\n  X:\n    data:\n      - sentences:\n          - \"({}\"\n",
        "word ".repeat(200_000)
    );
    let huge = write(tmp.path(), "huge.yaml", huge.as_bytes());
    let text = refused(
        &skylark(&["recognize", "--intents", &huge, "hello"]),
        "huge.yaml:",
    );
    assert!(text.len() < 4096, "a grammar error of {} bytes", text.len());

    // The daemon with the deep grammar configured fails at start with the same named error.
    let bus = Bus::start();
    let mut d = Daemon::spawn(&bus, &format!("[nlu]\nintents = [{deep:?}]\n"), &[]);
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(1), "{status:?}; log:\n{}", d.log());
    assert!(d.log().contains("nesting deeper than 64"), "{}", d.log());
    cli_still_recognizes();
}

/// 3, 6, 7 and the raw message: audio that panicked, cost gigabytes, or had no cap on the CLI.
#[test]
fn hostile_audio_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut samples = tone(22_050);
    samples[777] = f32::NAN;
    let nan = write(
        tmp.path(),
        "nan.wav",
        &wav(22_050, hound::SampleFormat::Float, 32, &samples),
    );
    samples[777] = f32::INFINITY;
    let inf = write(
        tmp.path(),
        "inf.wav",
        &wav(22_050, hound::SampleFormat::Float, 32, &samples),
    );
    let one_hz = write(
        tmp.path(),
        "1hz.wav",
        &wav(1, hound::SampleFormat::Int, 16, &tone(500)),
    );
    let three_hz = write(
        tmp.path(),
        "3hz.wav",
        &wav(3, hound::SampleFormat::Int, 16, &tone(1500)),
    );
    // A header promising 2^30 samples (2 GB) with one second of data.
    let mut liar = wav(16_000, hound::SampleFormat::Int, 16, &tone(16_000));
    liar[40..44].copy_from_slice(&0x7ff0_0000u32.to_le_bytes());
    let liar = write(tmp.path(), "liar.wav", &liar);
    // A sparse file whose header says 10 hours (and whose data is really there, as zeros).
    let ten_hours = tmp.path().join("ten_hours.wav");
    {
        let mut head = wav(16_000, hound::SampleFormat::Int, 16, &[]);
        let data = 10u32 * 3600 * 16_000 * 2;
        head[40..44].copy_from_slice(&data.to_le_bytes());
        head[4..8].copy_from_slice(&(data + 36).to_le_bytes());
        let mut f = std::fs::File::create(&ten_hours).expect("create");
        f.write_all(&head).expect("write");
        f.set_len(u64::from(data) + head.len() as u64)
            .expect("sparse");
    }
    let ten_hours = ten_hours.to_str().expect("utf-8").to_string();
    let raw = write(tmp.path(), "ten_s.raw", &vec![0u8; 320_000]);

    // The CLI: the same validation and cap as Transcribe.
    refused(
        &skylark(&["transcribe", &nan]),
        "sample 777 is not a finite number",
    );
    refused(
        &skylark(&["transcribe", &inf]),
        "sample 777 is not a finite number",
    );
    refused(&skylark(&["transcribe", &one_hz]), "sample rate 1 Hz");
    refused(
        &skylark(&["recognize", "--audio", &three_hz]),
        "sample rate 3 Hz",
    );
    refused(&skylark(&["transcribe", &liar]), "declares");
    refused(
        &skylark(&["transcribe", &ten_hours]),
        "asr.max_audio_seconds",
    );
    cli_still_recognizes();

    // D-Bus.
    let bus = Bus::start();
    let mut d = Daemon::start_with_models(&bus, "[asr]\nmax_audio_seconds = 2\n", &[]);
    assert_error(
        &transcribe(&bus, &nan, &[]),
        "InvalidArgument",
        "sample 777",
    );
    assert_error(
        &transcribe(&bus, &inf, &[]),
        "InvalidArgument",
        "sample 777",
    );
    assert_error(
        &transcribe(&bus, &one_hz, &[]),
        "InvalidArgument",
        "sample rate 1 Hz",
    );
    assert_error(
        &transcribe(&bus, &three_hz, &[]),
        "InvalidArgument",
        "sample rate 3 Hz",
    );
    assert_error(&transcribe(&bus, &liar, &[]), "InvalidArgument", "declares");
    assert_error(
        &transcribe(&bus, &ten_hours, &[]),
        "InvalidArgument",
        "36000.0 s",
    );
    assert_error(
        &transcribe(&bus, &raw, &["--format", "raw"]),
        "InvalidArgument",
        "is 10.0 s long",
    );
    assert_error(
        &transcribe(&bus, &raw, &["--format", "raw", "--via", "pipe"]),
        "InvalidArgument",
        "10.0 s long",
    );
    assert!(!d.log().contains("panicked"), "{}", d.log());
    daemon_still_recognizes(&bus, &mut d);
}

/// 4: a 4 KB request of Han characters (and one of random Latin words) took the daemon from
/// 0.7 to 3.6 GB and kept it; the model now sees at most llm.max_request_tokens of it.
#[test]
fn long_requests_do_not_grow_memory() {
    let bus = Bus::start();
    // The tiers before the LLM are off: the warm-up sentence must reach the model, whose
    // memory this is about (the semantic tier's index would also grow RSS while it builds).
    let config = "[nlu]\ntolerant = false\n\n[semantic]\nenabled = false\n";
    let mut d = Daemon::start_with_models(&bus, config, &[]);
    // The LLM loads after the name is owned: wait until a request uses it.
    let warm = "what is the weather like on mars today my friend";
    let start = std::time::Instant::now();
    while !bus.recognize(warm).contains("\"llm\"") {
        assert!(
            start.elapsed() < PATIENCE * 4,
            "the LLM never answered; log:\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let pid = d.pid();
    let idle = status_kib(pid, "VmRSS:");
    let han: String = (0..1365)
        .map(|i| char::from_u32(0x4e00 + (i * 7919) % 20_000).unwrap_or('汉'))
        .collect();
    let mut latin: String = (0..820)
        .map(|i| ["alpha ", "brav ", "chrl ", "delt "][i % 4])
        .collect();
    latin.truncate(4096);
    for text in ["汉".repeat(1365), han, latin] {
        assert!(text.len() <= 4096);
        let out = bus.recognize(&text);
        assert!(out.starts_with("sa{sv}ds"), "{out}");
    }
    let after = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");
    eprintln!(
        "RSS idle {idle} KiB, after three 4 KB requests {after} KiB, high-water mark {peak} KiB"
    );
    // Before the fix: +2.9 GB for one request, kept. The bounds leave room for the allocator.
    assert!(
        after < idle + 128 * 1024,
        "RSS grew from {idle} to {after} KiB"
    );
    assert!(
        peak < idle + 256 * 1024,
        "RSS peaked at {peak} KiB (idle {idle})"
    );
    assert!(
        d.log().contains("llm.max_request_tokens"),
        "the cut is logged:\n{}",
        d.log()
    );
    daemon_still_recognizes(&bus, &mut d);
}

/// 5: slow pipes. A client's fd reads are limited per client and counted apart from
/// `max_pending_calls`, so while one client's pipes trickle, another's calls are served.
#[test]
fn slow_pipes_do_not_starve_other_clients() {
    let bus = Bus::start();
    // Two calls in flight at most: before the fix two slow pipes made everything Busy.
    let mut d = Daemon::start_with_models(&bus, "[dbus]\nmax_pending_calls = 2\n", &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let address = bus.address.clone();
    let (writers, third) = rt.block_on(async move {
        let conn = zbus::connection::Builder::address(address.as_str())
            .build()
            .await
            .expect("connect");
        let mut writers = Vec::new();
        let mut calls = Vec::new();
        for _ in 0..3 {
            let (r, mut w) = std::io::pipe().expect("pipe");
            // A WAV header written to a pipe (streaming length), then nothing more for now.
            let mut head = wav(16_000, hound::SampleFormat::Int, 16, &[]);
            head[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
            w.write_all(&head).expect("header");
            writers.push(w);
            let conn = conn.clone();
            calls.push(tokio::spawn(async move {
                let fd = std::os::fd::OwnedFd::from(r);
                let options: HashMap<String, zbus::OwnedVariant> = HashMap::new();
                conn.call_method(
                    Some(NAME),
                    PATH,
                    Some(IFACE),
                    "Transcribe",
                    &(zbus::Fd::from(&fd), options),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            }));
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        // The third is refused at once (two per client); the first two are still reading.
        let third = calls.pop().expect("call").await.expect("task");
        (writers, third)
    });
    let err = third.expect_err("a third read of one client must be refused");
    assert!(
        err.contains("Busy") && err.contains("max_transcribe_reads_per_client"),
        "{err}"
    );
    // While the two pipes are open, others are served: Recognize, Ask.
    daemon_still_recognizes(&bus, &mut d);
    daemon_still_recognizes(&bus, &mut d);
    drop(writers);
    drop(rt);
    daemon_still_recognizes(&bus, &mut d);
}

/// The smaller ones: Ask("") refused like Speak(""); a handler's 10 MB reply with terminal
/// escape codes is broadcast sanitised and capped; absurd config values are named errors.
#[test]
fn small_hostilities() {
    let bus = Bus::start();
    let mut d = Daemon::start(&bus, "");
    let out = fails(bus.busctl(&["call", NAME, PATH, IFACE, "Ask", "sa{sv}", "", "0"]));
    assert!(
        out.contains("InvalidArgument") || out.contains("empty"),
        "{out}"
    );
    let out = fails(bus.busctl(&["call", NAME, PATH, IFACE, "Ask", "sa{sv}", "   ", "0"]));
    assert!(out.contains("empty"), "{out}");

    let handler = run(bus
        .command(python().to_str().expect("utf-8"))
        .arg(client_script("handler.py"))
        .args([
            "--intent",
            "climate.set_temperature",
            "--ask",
            COMMAND,
            "--speech",
            "\u{1b}[2J\u{1b}]0;pwned\u{7}OK ",
            "--speech-repeat",
            "1000000",
        ]));
    let events = stdout(&handler);
    let finished = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "turn_finished")
        .unwrap_or_else(|| panic!("no TurnFinished: {events}\n{}", stderr(&handler)));
    let response = finished["response"].as_str().expect("response");
    assert!(
        response.len() <= 4096,
        "a reply of {} bytes was broadcast",
        response.len()
    );
    assert!(response.starts_with("[2J]0;pwnedOK"), "{response:.80}");
    assert!(!response.chars().any(char::is_control), "{response:.80}");
    daemon_still_recognizes(&bus, &mut d);

    let out = ok(skylark(&["recognize", COMMAND]));
    assert!(out.contains("climate.set_temperature"), "{out}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write(
        tmp.path(),
        "config.toml",
        b"[dbus]\nhandler_timeout_ms = 9223372036854775807\n",
    );
    let out = run(Command::new(skylark_bin()).args(["--config", &config, "recognize", COMMAND]));
    refused(&out, "dbus.handler_timeout_ms");
}
