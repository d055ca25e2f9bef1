//! The scenarios against a real daemon: a private `dbus-daemon --session` and `skylark daemon`
//! (this binary) on it, started here and stopped by pid. Cold start is read off the daemon's
//! systemd notifications (a `NOTIFY_SOCKET` of the bench's own): the spawn, `STATUS=loading the
//! language models` (the name is owned), `READY=1`.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use skylark::dbus::client::Client;

use super::{Scenario, Sentence};
use crate::cli::Context;

/// How long a daemon may take to become ready (all models load before READY=1).
const READY_PATIENCE: Duration = Duration::from_secs(180);

struct Rounds {
    cold_starts: usize,
    calls: usize,
    /// One-second windows of idle listening measured.
    idle_windows: usize,
}

impl Rounds {
    fn new(quick: bool) -> Rounds {
        if quick {
            Rounds {
                cold_starts: 1,
                calls: 200,
                idle_windows: 3,
            }
        } else {
            Rounds {
                cold_starts: 3,
                calls: 2000,
                idle_windows: 10,
            }
        }
    }
}

/// `sentences`: (language, text) the grammar accepts, for `Recognize`.
pub(super) fn run(ctx: &Context, quick: bool, sentences: &[Sentence]) -> Vec<Scenario> {
    let rounds = Rounds::new(quick);
    match measure(ctx, &rounds, sentences) {
        Ok(s) => s,
        Err(e) => {
            let why = format!("{e:#}");
            eprintln!("bench: the daemon scenarios could not run: {why}");
            vec![
                Scenario::skipped("cold_start_ready", COLD, "ms", why.clone()),
                Scenario::skipped("text_intent_dbus", DBUS, "ms", why.clone()),
                Scenario::skipped("idle_cpu", IDLE, "%", why.clone()),
                Scenario::skipped("rss", RSS, "MB", why),
            ]
        }
    }
}

const COLD: &str = "cold start → READY";
const DBUS: &str = "text → intent (D-Bus)";
const IDLE: &str = "idle CPU, listening";
const RSS: &str = "RSS, all default models";

fn measure(ctx: &Context, rounds: &Rounds, sentences: &[Sentence]) -> Result<Vec<Scenario>> {
    let dir = std::env::temp_dir().join(format!("skylark-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bus = PrivateBus::start()?;
    let result = with_bus(ctx, rounds, sentences, &dir, &bus);
    drop(bus);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn with_bus(
    ctx: &Context,
    rounds: &Rounds,
    sentences: &[Sentence],
    dir: &Path,
    bus: &PrivateBus,
) -> Result<Vec<Scenario>> {
    let mut cold = Scenario::new(
        "cold_start_ready",
        COLD,
        "ms",
        "spawn of `skylark daemon` → READY=1 on NOTIFY_SOCKET (grammar, whisper, VAD, wake word, voices, lite LLM and semantic tier loaded, the name owned)",
    )
    .with_target("p50", 1500.0);
    let mut owned = Vec::new();
    let mut daemon = None;
    for i in 0..rounds.cold_starts {
        eprintln!("bench: cold start {} of {}…", i + 1, rounds.cold_starts);
        if let Some(d) = daemon.take() {
            drop::<Daemon>(d);
        }
        let d = Daemon::start(ctx, dir, &bus.address)?;
        cold.samples.push(d.ready_ms);
        owned.push(d.name_owned_ms);
        daemon = Some(d);
    }
    let Some(daemon) = daemon else {
        bail!("no daemon started");
    };
    let ready = cold.samples.clone();
    cold.stages = vec![
        ("speech models, name owned".into(), owned.clone()),
        (
            "language models".into(),
            ready.iter().zip(&owned).map(|(r, o)| r - o).collect(),
        ),
    ];

    let rt = super::super::runtime()?;
    let client = rt
        .block_on(Client::connect(&bus.address))
        .context("cannot connect to the private bus")?;
    eprintln!("bench: Recognize over D-Bus…");
    if sentences.is_empty() {
        bail!("no catalog sentences to recognize");
    }
    let mut dbus = Scenario::new(
        "text_intent_dbus",
        DBUS,
        "ms",
        "Recognize round trip from a client on the same private bus, catalog sentences in English and Mandarin",
    )
    .with_target("p50", 1.0);
    let mut ping = Vec::new();
    let (mut ok, mut of) = (0, 0);
    rt.block_on(async {
        for (language, text) in sentences.iter().take(20) {
            let _ = client.recognize(text, language).await; // warm-up
        }
        for i in 0..rounds.calls {
            let (language, text) = &sentences[i % sentences.len()];
            let t = Instant::now();
            let r = client.recognize(text, language).await;
            dbus.samples.push(t.elapsed().as_secs_f64() * 1000.0);
            of += 1;
            if r.is_ok_and(|intent| !intent.is_empty()) {
                ok += 1;
            }
            let t = Instant::now();
            if client.ping().await.is_ok() {
                ping.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
    });
    dbus.correct = Some((ok, of));
    dbus.stages = vec![("Recognize round trip".into(), dbus.samples.clone())];
    dbus.anchor = Some(super::Anchor {
        name: "Peer.Ping".into(),
        samples: ping,
    });

    let mut idle = Scenario::new(
        "idle_cpu",
        IDLE,
        "%",
        "the daemon's CPU time over a quiet interval (utime + stime in /proc/PID/stat) with the microphone open and WakeWordEnabled on, in % of one core",
    )
    .with_target("p50", 5.0);
    // The anchor first: the same daemon idle with the wake word off (its default).
    let device = skylark::doctor::audio_device();
    let quiet = match &device {
        Some(device) => {
            eprintln!(
                "bench: idle with the wake word off, then listening, on {device} ({} s each)…",
                rounds.idle_windows
            );
            Some(idle_windows(daemon.pid(), rounds.idle_windows)?)
        }
        None => None,
    };
    let listening = match device {
        None => Err("no microphone (no PulseAudio server and no ALSA card)".to_string()),
        Some(device) => match rt.block_on(client.enable_wake_word()) {
            Ok(true) => Ok(device),
            Ok(false) => Err("the wake word did not turn on".to_string()),
            Err(e) => Err(format!("the wake word cannot listen: {e}")),
        },
    };
    let mut rss_samples = Vec::new();
    match &listening {
        Err(why) => idle.skipped = Some(why.clone()),
        Ok(device) => {
            let (cpu, rss) = idle_windows(daemon.pid(), rounds.idle_windows)?;
            idle.samples = cpu;
            rss_samples = rss;
            idle.note = format!("{}, one-second windows ({device})", idle.note);
            if let Some((cpu, _)) = quiet {
                idle.anchor = Some(super::Anchor {
                    name: "wake word off".into(),
                    samples: cpu,
                });
            }
        }
    }
    let mut rss = Scenario::new(
        "rss",
        RSS,
        "MB",
        "the daemon's VmRSS (/proc/PID/status) after READY=1 and the calls above, read at the end of each idle window",
    )
    .with_target("p50", 400.0);
    if rss_samples.is_empty() {
        rss_samples.push(rss_mb(daemon.pid())?);
    }
    rss.samples = rss_samples;
    rss.note = match &listening {
        Ok(_) => format!("{}, listening for the wake word", rss.note),
        Err(why) => format!("{}, not listening ({why})", rss.note),
    };
    drop(client);
    rt.shutdown_timeout(Duration::from_millis(300));
    drop(daemon);
    Ok(vec![cold, dbus, idle, rss])
}

/// A private session bus, stopped by its pid when dropped.
struct PrivateBus {
    address: String,
    pid: i32,
}

impl PrivateBus {
    fn start() -> Result<PrivateBus> {
        let out = Command::new("dbus-daemon")
            .args(["--session", "--print-address=1", "--print-pid=1", "--fork"])
            .stdin(Stdio::null())
            .output()
            .context("cannot run dbus-daemon (apt-get install dbus)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (Some(address), Some(pid)) = (lines.next(), lines.next()) else {
            bail!(
                "dbus-daemon did not print its address: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let pid: i32 = pid.trim().parse().context("dbus-daemon's pid")?;
        Ok(PrivateBus {
            address: address.trim().to_string(),
            pid,
        })
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid dbus-daemon printed; no memory is involved.
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
    }
}

/// `skylark daemon` on the private bus, ready; stopped (SIGTERM, then SIGKILL) when dropped.
struct Daemon {
    child: Child,
    ready_ms: f64,
    name_owned_ms: f64,
}

impl Daemon {
    fn start(ctx: &Context, dir: &Path, bus: &str) -> Result<Daemon> {
        let socket_path = dir.join("notify");
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path)
            .with_context(|| format!("cannot bind {}", socket_path.display()))?;
        let (tx, notes) = mpsc::channel::<(Instant, String)>();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf) {
                let note = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send((Instant::now(), note)).is_err() {
                    return;
                }
            }
        });
        let exe = std::env::current_exe().context("cannot find the skylark binary")?;
        let log = std::fs::File::create(dir.join("daemon.log"))?;
        let mut cmd = Command::new(exe);
        if let Some(config) = &ctx.loaded.path {
            cmd.arg("--config").arg(config);
        }
        cmd.arg("--models-dir")
            .arg(&ctx.models_dir)
            .arg("daemon")
            .env("DBUS_SESSION_BUS_ADDRESS", bus)
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let spawned = Instant::now();
        let child = cmd.spawn().context("cannot start skylark daemon")?;
        let mut daemon = Daemon {
            child,
            ready_ms: 0.0,
            name_owned_ms: 0.0,
        };
        let since = |t: Instant| t.duration_since(spawned).as_secs_f64() * 1000.0;
        let deadline = spawned + READY_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, note) = match notes.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(n) => n,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = daemon.child.try_wait() {
                        bail!(
                            "skylark daemon exited ({status}) before READY=1; its log: {}",
                            tail(&dir.join("daemon.log"))
                        );
                    }
                    if left.is_zero() {
                        bail!("skylark daemon was not ready within {READY_PATIENCE:?}");
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the notify socket closed"),
            };
            if note.contains("STATUS=loading the language models") {
                daemon.name_owned_ms = since(at);
            }
            if note.lines().any(|l| l == "READY=1") {
                daemon.ready_ms = since(at);
                if daemon.name_owned_ms == 0.0 {
                    daemon.name_owned_ms = daemon.ready_ms;
                }
                return Ok(daemon);
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a log, for an error message.
fn tail(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// `windows` one-second windows of `pid` after a settling second: its CPU in each (% of one
/// core) and its RSS at the end of each (MB).
fn idle_windows(pid: u32, windows: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut cpu, mut rss) = (Vec::new(), Vec::new());
    std::thread::sleep(Duration::from_secs(1));
    let (mut t0, mut c0) = (Instant::now(), cpu_ticks(pid)?);
    for _ in 0..windows {
        std::thread::sleep(Duration::from_secs(1));
        let (t1, c1) = (Instant::now(), cpu_ticks(pid)?);
        let seconds = c1.saturating_sub(c0) as f64 / clock_ticks();
        cpu.push(100.0 * seconds / (t1 - t0).as_secs_f64());
        rss.push(rss_mb(pid)?);
        (t0, c0) = (t1, c1);
    }
    Ok((cpu, rss))
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // state is field 3; utime, stime are fields 14, 15 (1-based over the whole line).
    let get = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("/proc/{pid}/stat has no field {i}"))
    };
    Ok(get(11)? + get(12)?)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// The resident memory of `pid`, in MB (MiB).
fn rss_mb(pid: u32) -> Result<f64> {
    let bytes = skylark::alloc::resident_bytes_of(pid)
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(bytes as f64 / 1_048_576.0)
}
