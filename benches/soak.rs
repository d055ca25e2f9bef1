//! The soak (#17): thousands of text turns and hundreds of spoken ones against one real
//! `skylark daemon` (installed models, default configuration, private dbus-daemon), in a
//! bounded loop, with the daemon's resident memory and open descriptors sampled as it goes;
//! prints their least-squares slopes per 1,000 turns. A measurement, not a test (the short,
//! asserted soak is `tests/hostile_clients.rs::short_soak_stays_flat`).
//!
//! Text turns: `Recognize` of six catalog commands (en, zh-CN) in turn, and every tenth an
//! `Ask` (no speech) followed to its `TurnFinished`. Spoken turns: `Transcribe` of a Piper clip
//! ("Open the driver window."), then `Recognize` of what was heard. Every answer is checked.
//!
//! ```text
//! cargo bench --bench soak                                  # 5,000 text + 250 spoken turns
//! SKYLARK_SOAK_TURNS=20000 SKYLARK_SOAK_SPOKEN_EVERY=40 cargo bench --bench soak
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let turns = env_usize("SKYLARK_SOAK_TURNS", 5000);
    let spoken_every = env_usize("SKYLARK_SOAK_SPOKEN_EVERY", 20);
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let bus = Bus::start();
    let d = Daemon::start_with_models(&bus, "", &[]);
    d.wait_llm_ready();
    let t = Instant::now();
    while !d.log().contains("semantic index built") {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the semantic index was never built; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let rt = client::runtime();
    let pid = d.pid();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "soak: skylark daemon pid {pid}, default configuration, {cores} cores, load {}",
        load_average()
    );
    let warm = soak::Plan {
        text_turns: 200,
        spoken_every: 50,
        sample_every: 100,
    };
    let w = rt.block_on(soak::run(&bus.address, pid, &clip, warm));
    println!("  warm-up: {}", w.summary());
    std::thread::sleep(Duration::from_secs(2));
    let plan = soak::Plan {
        text_turns: turns,
        spoken_every,
        sample_every: 100,
    };
    let r = rt.block_on(soak::run(&bus.address, pid, &clip, plan));
    println!("  soak: {}", r.summary());
    let (after, settled) = Footprint::settle(pid, &r.first(), Duration::from_secs(30));
    println!(
        "  30 s later: RSS {} KiB, {} fds ({} 5 % of the start); load {}",
        after.rss_kib,
        after.fds,
        if settled { "within" } else { "NOT within" },
        load_average()
    );
    println!("  peak RSS {} KiB", status_kib(pid, "VmHWM:"));
}
