//! What `./scripts/run.sh` shows on a machine without a sound card: the daemon's own log
//! lines only (libasound's `ALSA lib …` errors go to `tracing` at debug, hidden unless
//! `SKYLARK_LOG` names `alsa`), and one warning that there is no microphone, with the fix.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn no_sound_card_prints_no_third_party_lines() {
    let models = models_dir();
    let bus = Bus::start();
    // Default level, plus the capture module's debug line for each retry so the test knows
    // the retry loop (the source of libasound's errors) ran several times. No PulseAudio.
    let env = vec![
        (
            "SKYLARK_LOG".to_string(),
            "info,skylark::audio::capture=debug".to_string(),
        ),
        (
            "PULSE_SERVER".to_string(),
            "unix:/nonexistent/pulse".to_string(),
        ),
    ];
    let d = Daemon::spawn_with(&bus, "", &[], Some(&models), &env);
    d.wait_ready(&bus);
    let start = Instant::now();
    while d.log().matches("microphone still unavailable").count() < 3 {
        assert!(
            start.elapsed() < PATIENCE,
            "the microphone retry loop did not run; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.log();
    let foreign: Vec<&str> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !is_own_line(l))
        .collect();
    assert!(
        foreign.is_empty(),
        "lines not from skylark:\n{}\n\nwhole log:\n{log}",
        foreign.join("\n")
    );
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("no microphone"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "the no-microphone warning should come once:\n{log}"
    );
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("Fix:"),
        "{}",
        warnings[0]
    );
}

/// A line of skylark's own `tracing` output (`2026-12-06T02:02:31.246198Z  INFO …`).
fn is_own_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && line[20..].contains('Z')
}
