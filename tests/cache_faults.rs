//! Fault injection (#17): the daemon's cache directory full or read-only. The daemon writes
//! there `skylark/semantic/` (the semantic tier's embeddings of the grammar, kept so the next
//! start need not embed them again), `skylark/onnx/` (the optimised form of each ONNX model,
//! `onnx::commit_cached`) and `skylark/llm/` (the lite LLM's KV-cache probe; the LLM is off
//! here); the models directory is only read. With that directory on a 64 KiB tmpfs (full as
//! soon as anything large is written) or a read-only tmpfs, the daemon must start, serve
//! `Recognize` — grammar and the semantic tier, from memory — and `Transcribe`, and say in its
//! log what is wrong and where.
//!
//! The tmpfs is mounted in a private mount namespace of the daemon alone (`unshare -m`), so
//! nothing is left mounted whatever happens to the test; this needs root (or CAP_SYS_ADMIN),
//! as this project's test machine has. The test fails, saying so, where that is not allowed.

mod common;

use std::path::Path;

use common::*;

/// `unshare -m sh -c 'mount -t tmpfs -o OPTS tmpfs "$XDG_CACHE_HOME" && exec "$@"' OPTS skylark …`
fn start_on_tmpfs_cache(bus: &Bus, cache: &Path, options: &str) -> Daemon {
    let probe = run(std::process::Command::new("unshare").args([
        "-m",
        "sh",
        "-c",
        "mount -t tmpfs -o size=4k tmpfs /mnt",
    ]));
    assert!(
        probe.status.success(),
        "this test mounts a tmpfs in a private mount namespace (unshare -m), which needs root \
         or CAP_SYS_ADMIN: {}",
        stderr(&probe)
    );
    std::fs::create_dir_all(cache).expect("cache dir");
    let config = "[llm]\nenabled = false\n";
    let env = [(
        "XDG_CACHE_HOME".to_string(),
        cache.to_str().expect("utf-8").to_string(),
    )];
    let d = Daemon::spawn_wrapped(
        bus,
        config,
        &[],
        Some(&models_dir()),
        &env,
        &[
            "unshare",
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o \"$0\" tmpfs \"$XDG_CACHE_HOME\" && exec \"$@\"",
            options,
        ],
    );
    d.wait_ready(bus);
    d
}

/// The daemon answers a command (grammar) and a paraphrase the grammar misses (the semantic
/// tier), and transcribes a clip.
fn serves(bus: &Bus, clip: &Path) {
    let out = bus.recognize("turn on the ac");
    assert!(out.contains("\"climate.set_ac\""), "{out}");
    let out = ok(bus.busctl(&[
        "call",
        NAME,
        PATH,
        IFACE,
        "Recognize",
        "sa{sv}",
        "my butt is cold, heat my seat",
        "0",
    ]));
    assert!(out.contains("\"seat.set_heating\""), "{out}");
    let out = ok(run(bus
        .command(python().to_str().expect("utf-8"))
        .arg(client_script("transcribe.py"))
        .arg(clip)));
    let reply: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let text = reply["text"].as_str().unwrap_or_else(|| panic!("{reply}"));
    assert!(words(text).contains(&"window".to_string()), "{reply}");
}

/// Waits for the log line that says the embeddings were not kept, and returns the log.
fn said_not_kept(d: &Daemon) -> String {
    let t = std::time::Instant::now();
    loop {
        let log = d.log();
        if log.contains("semantic embeddings not kept") {
            return log;
        }
        assert!(
            t.elapsed() < PATIENCE * 4,
            "the daemon never said the cache could not be written; log:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The names in `dir` as the daemon sees it (in its own mount namespace).
fn left_in(d: &Daemon, dir: &Path) -> std::io::Result<Vec<String>> {
    let seen = Path::new(&format!("/proc/{}/root", d.pid()))
        .join(dir.strip_prefix("/").expect("absolute"));
    Ok(std::fs::read_dir(seen)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

#[test]
fn a_full_cache_directory_is_named_and_the_daemon_serves() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let bus = Bus::start();
    let cache = tmp.path().join("cache");
    let mut d = start_on_tmpfs_cache(&bus, &cache, "size=64k");
    let log = said_not_kept(&d);
    assert!(
        log.contains("No space left on device") && log.contains("skylark/semantic/"),
        "the log says what is wrong and where:\n{log}"
    );
    serves(&bus, &clip);
    // The half-written file was removed: the full disk is not kept full by skylark.
    let left = left_in(&d, &cache.join("skylark/semantic"))
        .unwrap_or_else(|e| panic!("skylark/semantic: {e}"));
    assert!(left.is_empty(), "left in the full cache: {left:?}");
    // Nor the half-written optimised copy of the semantic model (skylark/onnx/), which the
    // daemon loaded from the model file instead, saying so.
    assert!(
        log.contains("cannot keep the optimised model") && log.contains("skylark/onnx/"),
        "the log says the optimised model was not kept, and where:\n{log}"
    );
    let left = left_in(&d, &cache.join("skylark/onnx")).unwrap_or_default();
    assert!(left.is_empty(), "left in the full cache: {left:?}");
    assert!(d.running(), "{}", d.log());
}

#[test]
fn a_read_only_cache_directory_is_named_and_the_daemon_serves() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let bus = Bus::start();
    let cache = tmp.path().join("cache");
    let mut d = start_on_tmpfs_cache(&bus, &cache, "ro");
    let log = said_not_kept(&d);
    assert!(
        log.contains("Read-only file system") && log.contains("skylark/semantic/"),
        "the log says what is wrong and where:\n{log}"
    );
    serves(&bus, &clip);
    assert!(d.running(), "{}", d.log());
}
