//! Issue #17's hostile D-Bus clients against the real `skylark daemon` (private dbus-daemon,
//! independent clients: zbus connections of this test, busctl, the jeepney handler): wrong
//! types, oversize strings and lists, floods from 8 clients, Register/Unregister storms,
//! Cancel storms on live and unknown turns, handlers that never answer or leave mid-call, and
//! `Transcribe` on /dev/zero, a sparse 2 GB file and pipes that never close. After each, the
//! daemon must still answer `Recognize` correctly and come back within 5 % of its resident
//! memory and open file descriptors before the attacks (measured after a warm-up round of
//! the same attacks, so first-use allocations are in the baseline). Each prints a line
//! `hostile: NAME: …` with the figures (`-- --nocapture`).
//!
//! The short soak at the end runs a bounded loop of text and spoken turns and checks that the
//! descriptors stay flat and memory bounded; `cargo bench --bench soak` is the long one with
//! the slopes.

mod common;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use common::client::*;
use common::*;
use zbus::OwnedVariant;

const COMMAND: &str = "set the temperature to 22 degrees";
/// How long memory and descriptors may take to come back after an attack.
const SETTLE: Duration = Duration::from_secs(30);

/// The daemon under attack: its pid, its baseline, and the rows printed for the README.
struct Target<'a> {
    bus: &'a Bus,
    daemon: &'a mut Daemon,
    base: Footprint,
}

impl<'a> Target<'a> {
    /// Measures the baseline once the process has been quiet for a moment.
    fn new(bus: &'a Bus, daemon: &'a mut Daemon) -> Target<'a> {
        std::thread::sleep(Duration::from_secs(3));
        let base = Footprint::of(daemon.pid());
        eprintln!(
            "hostile: baseline RSS {} KiB, {} fds (load {})",
            base.rss_kib,
            base.fds,
            load_average()
        );
        Target { bus, daemon, base }
    }

    /// After an attack: `Recognize` is right, then memory and descriptors come back.
    fn check(&mut self, name: &str) {
        assert!(
            self.daemon.running(),
            "{name}: the daemon died; its log:\n{}",
            self.daemon.log()
        );
        let peak = Footprint::of(self.daemon.pid());
        let out = self.bus.recognize(COMMAND);
        assert!(
            out.contains("climate.set_temperature") && out.contains("grammar"),
            "{name}: {out}"
        );
        let t = Instant::now();
        let (now, settled) = Footprint::settle(self.daemon.pid(), &self.base, SETTLE);
        eprintln!(
            "hostile: {name}: {} — RSS {} -> {} KiB ({:+.1} %), fds {} -> {} (just after: {} KiB, {} fds; settled in {:.1} s)",
            if settled { "pass" } else { "FAIL" },
            self.base.rss_kib,
            now.rss_kib,
            (now.rss_kib as f64 / self.base.rss_kib as f64 - 1.0) * 100.0,
            self.base.fds,
            now.fds,
            peak.rss_kib,
            peak.fds,
            t.elapsed().as_secs_f64()
        );
        assert!(
            settled,
            "{name}: the daemon did not come back within 5 % of {:?} in {SETTLE:?}: {now:?}; fds: {}",
            self.base,
            fd_list(self.daemon.pid())
        );
        assert!(
            !self.daemon.log().contains("panicked"),
            "{name}: {}",
            self.daemon.log()
        );
    }
}

/// What the process's descriptors point at (for a failure message).
fn fd_list(pid: u32) -> String {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.join(", ")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs `clients` copies of `body` at once, each on its own connection, and returns their
/// results in order.
async fn clients<F, Fut, T>(bus: &str, clients: usize, body: F) -> Vec<T>
where
    F: Fn(usize, zbus::Connection) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = Vec::new();
    for i in 0..clients {
        let conn = connect(bus).await;
        tasks.push(tokio::spawn(body(i, conn)));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("client task"));
    }
    out
}

const SENTENCES: [(&str, &str, &str); 4] = [
    (COMMAND, "en", "climate.set_temperature"),
    ("turn on the ac", "en", "climate.set_ac"),
    ("open the sunroof", "en", "sunroof.open"),
    ("打开空调", "zh-CN", "climate.set_ac"),
];

/// Wrong types, oversize strings and lists: each refused with a named error.
async fn malformed(bus: &str, rounds: usize) {
    let conn = connect(bus).await;
    for _ in 0..rounds {
        for (method, err) in [
            (
                "Recognize",
                call(&conn, "Recognize", &(5i32, Options::new())).await,
            ),
            (
                "Recognize",
                call(&conn, "Recognize", &("turn on the ac",)).await,
            ),
            (
                "Cancel",
                call(&conn, "Cancel", &("/io/skylark/Assistant1/turn/1",)).await,
            ),
            (
                "RegisterHandler",
                call(&conn, "RegisterHandler", &("/h", 7u32)).await,
            ),
            (
                "SetList",
                call(&conn, "SetList", &("contact", vec!["a", "b"])).await,
            ),
            (
                "Transcribe",
                call(&conn, "Transcribe", &("/dev/zero", Options::new())).await,
            ),
            ("Ask", call(&conn, "Ask", &(1.5f64, 2.5f64)).await),
        ] {
            let e = err.expect_err(method);
            assert!(e.contains("InvalidArgs"), "{method}: {e}");
        }
        // Right signature, wrong type inside the options.
        let mut options = Options::new();
        options.insert(
            "language".into(),
            OwnedVariant::try_from(zbus::Variant::from(42u32)).expect("variant"),
        );
        let e = call(&conn, "Recognize", &("turn on the ac", options))
            .await
            .expect_err("language 42");
        assert!(e.contains("Error.InvalidArgument"), "{e}");
        // A megabyte of text, to each text method.
        let big = "b".repeat(1 << 20);
        for method in ["Recognize", "Ask", "Speak"] {
            let e = call(&conn, method, &(big.as_str(), Options::new()))
                .await
                .expect_err(method);
            assert!(e.contains("max_text_bytes"), "{method}: {e}");
        }
        // A list one entry past dbus.max_list_entries, and 100,000 intents for a handler.
        let entries: Vec<(String, String)> = (0..10_001)
            .map(|i| (format!("contact number {i}"), format!("+1555{i:07}")))
            .collect();
        let e = call(&conn, "SetList", &("contact", entries))
            .await
            .expect_err("10,001 entries");
        assert!(e.contains("max_list_entries"), "{e}");
        let intents: Vec<String> = (0..100_000).map(|i| format!("x.intent_{i}")).collect();
        let path = zbus::ObjectPath::try_from("/h").expect("path");
        let e = call(&conn, "RegisterHandler", &(path, intents))
            .await
            .expect_err("100,000 intents");
        assert!(e.contains("Error.InvalidArgument"), "{e}");
        // The largest list allowed, then an ordinary one again: the big one must not stay.
        let entries: Vec<(String, String)> = (0..10_000)
            .map(|i| (format!("contact number {i}"), format!("+1555{i:07}")))
            .collect();
        call(&conn, "SetList", &("contact", entries))
            .await
            .expect("10,000 entries");
        let small = vec![("alice".to_string(), "Alice".to_string())];
        call(&conn, "SetList", &("contact", small))
            .await
            .expect("one entry");
    }
}

/// 8 clients, each `calls` Recognize in a row (the four sentences in turn): every answer right.
async fn flood(bus: &str, calls: usize) {
    let wrong = clients(bus, 8, move |c, conn| async move {
        let mut wrong = Vec::new();
        for i in 0..calls {
            let (text, language, intent) = SENTENCES[(c + i) % SENTENCES.len()];
            match recognize(&conn, text, Some(language)).await {
                Ok(got) if got == intent => {}
                other => wrong.push(format!("{text}: {other:?}")),
            }
        }
        wrong
    })
    .await;
    let wrong: Vec<String> = wrong.into_iter().flatten().collect();
    assert!(
        wrong.is_empty(),
        "{} wrong answers: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

const OWN_INTENTS: [&str; 8] = [
    "media.pause",
    "media.resume",
    "media.next",
    "media.previous",
    "sunroof.open",
    "sunroof.close",
    "phone.answer",
    "phone.hang_up",
];

/// 8 clients register and unregister their own intent `cycles` times; then `vanishing`
/// connections register one shared intent and leave the bus without unregistering; then one
/// client can take every intent (nothing of them was kept).
async fn register_storm(bus: &str, cycles: usize, vanishing: usize) {
    let errors = clients(bus, 8, move |c, conn| async move {
        let path = format!("/storm/Handler{c}");
        let mut errors = Vec::new();
        for _ in 0..cycles {
            let object = zbus::ObjectPath::try_from(path.as_str()).expect("path");
            if let Err(e) = call(&conn, "RegisterHandler", &(&object, vec![OWN_INTENTS[c]])).await {
                errors.push(e);
            }
            if let Err(e) = call(&conn, "UnregisterHandler", &(&object,)).await {
                errors.push(e);
            }
        }
        errors
    })
    .await;
    let errors: Vec<String> = errors.into_iter().flatten().collect();
    assert!(
        errors.is_empty(),
        "{} errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    for _ in 0..vanishing {
        let conn = connect(bus).await;
        let object = zbus::ObjectPath::try_from("/storm/Vanishing").expect("path");
        call(&conn, "RegisterHandler", &(&object, vec!["media.pause"]))
            .await
            .expect("a vanished client's intent is free");
        drop(conn);
    }
    let conn = connect(bus).await;
    let object = zbus::ObjectPath::try_from("/storm/All").expect("path");
    call(&conn, "RegisterHandler", &(&object, OWN_INTENTS.to_vec()))
        .await
        .expect("every intent is free after the storm");
    call(&conn, "UnregisterHandler", &(&object,))
        .await
        .expect("unregister");
}

/// 8 clients Cancel `calls` turns that never existed: each `NotFound`.
async fn cancel_unknown(bus: &str, calls: usize) {
    let bad = clients(bus, 8, move |c, conn| async move {
        let mut bad = Vec::new();
        for i in 0..calls {
            let turn = format!("/io/skylark/Assistant1/turn/{}", 1_000_000 + c * calls + i);
            match cancel(&conn, &turn).await {
                Err(e) if e.contains("Error.NotFound") => {}
                other => bad.push(format!("{turn}: {other:?}")),
            }
        }
        bad
    })
    .await;
    let bad: Vec<String> = bad.into_iter().flatten().collect();
    assert!(bad.is_empty(), "{:?}", &bad[..bad.len().min(5)]);
}

/// With a handler that never answers registered for `COMMAND`'s intent, 8 clients each Ask
/// `turns` turns and Cancel each at once (twice: the second races the end, and is not an
/// error): every turn asked ends `cancelled`, and the daemon goes back to idle.
async fn cancel_live(bus: &str, turns: usize) {
    let watcher = connect(bus).await;
    let mut finished = turn_finished(&watcher).await;
    let asked = clients(bus, 8, move |_, conn| async move {
        let mut asked = Vec::new();
        let mut busy = 0;
        for _ in 0..turns {
            match ask(&conn, COMMAND, None).await {
                Ok(turn) => {
                    cancel(&conn, &turn).await.expect("cancel a live turn");
                    cancel(&conn, &turn).await.expect("cancel it again");
                    asked.push(turn);
                }
                Err(e) if e.contains("Error.Busy") => busy += 1,
                Err(e) => panic!("Ask: {e}"),
            }
        }
        (asked, busy)
    })
    .await;
    let busy: usize = asked.iter().map(|(_, b)| b).sum();
    let mut waiting: std::collections::HashSet<String> =
        asked.into_iter().flat_map(|(a, _)| a).collect();
    let count = waiting.len();
    assert!(
        count >= turns,
        "only {count} turns were started ({busy} Busy)"
    );
    let deadline = Instant::now() + PATIENCE;
    while !waiting.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some((turn, status))) = tokio::time::timeout(left, finished.recv()).await else {
            panic!("{} of {count} turns never finished", waiting.len());
        };
        if waiting.remove(&turn) {
            assert_eq!(status, "cancelled", "{turn}");
        }
    }
    let t = Instant::now();
    while state(&watcher).await != "idle" {
        assert!(
            t.elapsed() < PATIENCE,
            "the daemon stays {}",
            state(&watcher).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("hostile: cancel storm: {count} live turns cancelled, {busy} Asks answered Busy");
}

/// Runs the jeepney handler `rounds` times with `--mode exit`: it leaves the bus as the
/// daemon's Handle call reaches it; the turn must end `failed` each time.
fn handler_leaves_mid_call(bus: &Bus, rounds: usize) {
    for _ in 0..rounds {
        let mut client = handler_client(
            bus,
            &[
                "--intent",
                "climate.set_temperature",
                "--ask",
                COMMAND,
                "--mode",
                "exit",
            ],
        );
        client.wait_for(|l| l.contains("\"handle\""));
        client.wait_exit();
    }
}

#[test]
fn floods_and_storms_leave_no_trace() {
    let bus = Bus::start();
    // Text only (no models): what is measured is the D-Bus service and the engine's turns.
    let mut d = Daemon::start(&bus, "[dbus]\nhandler_timeout_ms = 5000\n");
    // A handler that never answers serves COMMAND's intent throughout (the live turns).
    let mut never = handler_client(
        &bus,
        &["--intent", "climate.set_temperature", "--mode", "never"],
    );
    never.wait_for(|l| l.contains("\"registered\""));
    let rt = runtime();
    let address = bus.address.clone();
    // The warm-up: each attack once, small.
    rt.block_on(async {
        malformed(&address, 1).await;
        flood(&address, 50).await;
        register_storm(&address, 10, 5).await;
        cancel_unknown(&address, 20).await;
        cancel_live(&address, 4).await;
    });
    let mut target = Target::new(&bus, &mut d);
    rt.block_on(malformed(&address, 5));
    target.check("wrong types, 1 MB strings, 10,001-entry lists, 100,000 intents (x5)");
    rt.block_on(flood(&address, 1000));
    target.check("flood: 8 clients x 1,000 Recognize");
    rt.block_on(register_storm(&address, 250, 100));
    target
        .check("Register/Unregister storm: 8 clients x 250 cycles, 100 clients leaving registered");
    rt.block_on(cancel_unknown(&address, 500));
    target.check("Cancel storm on unknown turns: 8 clients x 500");
    rt.block_on(cancel_live(&address, 50));
    target.check(
        "Cancel storm on live turns: 8 clients x 50 Ask + 2 Cancel, handler never answering",
    );
    drop(never);
    handler_leaves_mid_call(&bus, 10);
    target.check("a handler leaving the bus mid-call (x10)");
    // A handler that never answers, without Cancel: the turns end `timeout`.
    let out = ok(run(bus
        .command(python().to_str().expect("utf-8"))
        .arg(client_script("handler.py"))
        .args([
            "--intent",
            "climate.set_temperature",
            "--ask",
            COMMAND,
            "--mode",
            "never",
        ])));
    assert!(out.contains("\"timeout\""), "{out}");
    target.check("a handler that never answers (turn ended timeout)");
}

fn fd_of(file: std::fs::File) -> OwnedFd {
    OwnedFd::from(file)
}

/// A pipe whose writer sends `head`, then zeros until the reader goes away (the daemon gave
/// up), never closing it itself.
fn endless_pipe(head: Vec<u8>) -> OwnedFd {
    let (r, mut w) = std::io::pipe().expect("pipe");
    std::thread::spawn(move || {
        if w.write_all(&head).is_err() {
            return;
        }
        let zeros = vec![0u8; 64 * 1024];
        while w.write_all(&zeros).is_ok() {}
    });
    OwnedFd::from(r)
}

/// A WAV header for 16 kHz mono s16 declaring `data` bytes.
fn wav_header(data: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&16_000u32.to_le_bytes());
    h.extend_from_slice(&32_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

fn refused(what: &str, result: Result<String, String>, needle: &str) {
    let e = result.expect_err(what);
    assert!(
        e.contains("Error.InvalidArgument") && e.contains(needle),
        "{what}: {e}"
    );
}

/// /dev/zero, a sparse 2 GB file (raw, as a headerless WAV, and with a header declaring it
/// all) and endless pipes: each refused, none read past the cap.
async fn hostile_files(
    bus: &str,
    sparse: &std::path::Path,
    sparse_wav: &std::path::Path,
    rounds: usize,
) {
    let conn = connect(bus).await;
    for _ in 0..rounds {
        for raw in [false, true] {
            let zero = fd_of(std::fs::File::open("/dev/zero").expect("/dev/zero"));
            refused(
                "/dev/zero",
                transcribe(&conn, &zero, raw).await,
                "character device",
            );
        }
        let f = fd_of(std::fs::File::open(sparse).expect("sparse file"));
        refused(
            "sparse 2 GB raw",
            transcribe(&conn, &f, true).await,
            "asr.max_audio_seconds",
        );
        let f = fd_of(std::fs::File::open(sparse).expect("sparse file"));
        refused("sparse 2 GB as WAV", transcribe(&conn, &f, false).await, "");
        let f = fd_of(std::fs::File::open(sparse_wav).expect("sparse WAV"));
        refused(
            "sparse 2 GB WAV",
            transcribe(&conn, &f, false).await,
            "asr.max_audio_seconds",
        );
        let p = endless_pipe(Vec::new());
        refused(
            "endless raw pipe",
            transcribe(&conn, &p, true).await,
            "asr.max_audio_seconds",
        );
        let p = endless_pipe(wav_header(0x7fff_f000));
        refused(
            "endless WAV pipe",
            transcribe(&conn, &p, false).await,
            "asr.max_audio_seconds",
        );
    }
}

/// Two pipes that stay open and silent from one client (the daemon gives up after its idle
/// timeout), and a client that leaves the bus in the middle of such a call.
async fn silent_pipes(bus: &str) {
    let conn = connect(bus).await;
    let mut keep = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..2 {
        let (r, w) = std::io::pipe().expect("pipe");
        keep.push(w);
        let conn = conn.clone();
        let fd = OwnedFd::from(r);
        calls.push(tokio::spawn(
            async move { transcribe(&conn, &fd, false).await },
        ));
    }
    // The one that leaves: its call is in flight (its pipe open and silent) when it drops.
    let leaver = connect(bus).await;
    let (r, w) = std::io::pipe().expect("pipe");
    keep.push(w);
    let fd = OwnedFd::from(r);
    let pending = tokio::spawn(async move {
        let _ =
            tokio::time::timeout(Duration::from_millis(500), transcribe(&leaver, &fd, false)).await;
        drop(leaver);
    });
    pending.await.expect("leaver");
    for c in calls {
        let e = c.await.expect("call").expect_err("a silent pipe");
        assert!(e.contains("delivered no data"), "{e}");
    }
    drop(keep);
}

/// 8 clients each `Transcribe` the clip `calls` times at once: every answer heard right or
/// `Busy` (dbus.max_transcribe_reads); returns how many were Busy.
async fn transcribe_flood(bus: &str, clip: &std::path::Path, calls: usize) -> usize {
    let clip = clip.to_path_buf();
    let results = clients(bus, 8, move |_, conn| {
        let clip = clip.clone();
        async move {
            let mut busy = 0;
            for _ in 0..calls {
                let f = fd_of(std::fs::File::open(&clip).expect("clip"));
                match transcribe(&conn, &f, false).await {
                    Ok(text) => assert!(words(&text).contains(&"window".to_string()), "{text}"),
                    Err(e) if e.contains("Error.Busy") => busy += 1,
                    Err(e) => panic!("Transcribe: {e}"),
                }
            }
            busy
        }
    })
    .await;
    results.into_iter().sum()
}

#[test]
fn hostile_transcribe_leaves_no_trace() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    // Sparse: 2 GB of zeros that take no disk; raw, and with a WAV header declaring them.
    let sparse = tmp.path().join("sparse.raw");
    std::fs::File::create(&sparse)
        .and_then(|f| f.set_len(2 << 30))
        .expect("sparse file");
    let sparse_wav = tmp.path().join("sparse.wav");
    {
        let mut f = std::fs::File::create(&sparse_wav).expect("sparse WAV");
        f.write_all(&wav_header((2u32 << 30) - 64)).expect("header");
        f.set_len(2 << 30).expect("sparse WAV");
    }
    let bus = Bus::start();
    // The speech stages only (the LLM and the semantic tier measured elsewhere); 5 s of audio
    // at most, so the endless pipes are cut after 160 KB.
    let config =
        "[asr]\nmax_audio_seconds = 5\n\n[llm]\nenabled = false\n\n[semantic]\nenabled = false\n";
    let mut d = Daemon::start_with_models(&bus, config, &[]);
    let rt = runtime();
    let address = bus.address.clone();
    let heard = |rt: &tokio::runtime::Runtime| {
        let text = rt.block_on(async {
            let conn = connect(&address).await;
            let f = fd_of(std::fs::File::open(&clip).expect("clip"));
            transcribe(&conn, &f, false).await
        });
        let text = text.expect("the clip is transcribed");
        let w = words(&text);
        assert!(
            w.contains(&"driver".to_string()) && w.contains(&"window".to_string()),
            "{text}"
        );
    };
    // The warm-up: a real transcription, then each attack once.
    heard(&rt);
    rt.block_on(hostile_files(&address, &sparse, &sparse_wav, 1));
    rt.block_on(transcribe_flood(&address, &clip, 1));
    heard(&rt);
    let mut target = Target::new(&bus, &mut d);
    rt.block_on(hostile_files(&address, &sparse, &sparse_wav, 5));
    heard(&rt);
    target.check("Transcribe: /dev/zero, a sparse 2 GB file (raw, WAV), endless pipes (x5)");
    rt.block_on(silent_pipes(&address));
    heard(&rt);
    target.check("Transcribe: 2 silent pipes that never close, a client leaving mid-call");
    let busy = rt.block_on(transcribe_flood(&address, &clip, 3));
    target.check(&format!(
        "Transcribe flood: 8 clients x 3 at once, all heard right ({busy} Busy)"
    ));
}

/// A short soak (the long one, with its slopes, is `cargo bench --bench soak`): 1,500 text
/// turns and 30 spoken ones; afterwards the descriptors are as many as before and memory
/// within 5 %.
#[test]
fn short_soak_stays_flat() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let clip = piper_clip(tmp.path(), "clip.wav", "Open the driver window.");
    let bus = Bus::start();
    let mut d = Daemon::start_with_models(&bus, "[llm]\nenabled = false\n", &[]);
    let rt = runtime();
    let address = bus.address.clone();
    let pid = d.pid();
    let warm = soak::Plan {
        text_turns: 100,
        spoken_every: 50,
        sample_every: 50,
    };
    rt.block_on(soak::run(&address, pid, &clip, warm));
    let mut target = Target::new(&bus, &mut d);
    let plan = soak::Plan {
        text_turns: 1500,
        spoken_every: 50,
        sample_every: 50,
    };
    let report = rt.block_on(soak::run(&address, pid, &clip, plan));
    eprintln!("hostile: short soak: {}", report.summary());
    let fds: Vec<usize> = report.samples.iter().map(|s| s.1.fds).collect();
    assert!(
        fds.iter().all(|&n| n <= target.base.fds + 2),
        "descriptors grew during the soak: {fds:?} (baseline {})",
        target.base.fds
    );
    target.check("short soak: 1,500 text + 30 spoken turns");
}
