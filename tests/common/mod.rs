//! Shared by the D-Bus integration tests: a private dbus-daemon, the real `skylark daemon`
//! as a separate process, and the real command-line clients (busctl, gdbus, dbus-send) and a
//! Python jeepney client. Every process is stopped by pid when its guard drops.

#![allow(dead_code)]

pub mod client;
pub mod fault_server;
pub mod llama_server;
pub mod pulse;
pub mod soak;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const NAME: &str = "io.skylark.Assistant1";
pub const PATH: &str = "/io/skylark/Assistant1";
pub const IFACE: &str = "io.skylark.Assistant1";
/// Generous: these bound waits for things that normally take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn skylark_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skylark")
}

/// The Python that runs tests/clients/*.py: `$SKYLARK_PYTHON`, else the project's venv
/// (`$XDG_CACHE_HOME/skylark/venv`, which `scripts/test.sh` fills from tests/requirements.txt).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SKYLARK_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".cache")
        });
    let venv = cache.join("skylark/venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh (it creates the venv with tests/requirements.txt)",
        venv.display()
    );
    venv
}

/// The installed models dir (`skylark models fetch`); fails the test with the fix when the
/// speech models are not there.
pub fn models_dir() -> PathBuf {
    let dir = skylark::models::default_models_dir();
    for file in [
        "whisper/ggml-tiny.en-q8_0.bin",
        "whisper/ggml-base-q8_0.bin",
        "tts/en_US-joe-medium.onnx",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{} is missing: run `skylark models fetch`",
            dir.join(file).display()
        );
    }
    dir
}

/// A transcript's words: lower case, punctuation dropped (what a command parser compares).
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

pub fn client_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// The jeepney handler script (`tests/clients/handler.py`) with `args`, on `bus`, its JSON
/// lines read as they come.
pub fn handler_client(bus: &Bus, args: &[&str]) -> Watcher {
    let mut cmd = bus.command(python().to_str().expect("utf-8 path"));
    cmd.arg(client_script("handler.py")).args(args);
    Watcher::spawn(cmd)
}

/// A private session bus: `dbus-daemon --session --print-address=1 --print-pid=1 --fork`.
pub struct Bus {
    pub address: String,
    pid: u32,
    pub dir: tempfile::TempDir,
}

impl Bus {
    pub fn start() -> Bus {
        Bus::start_with(&["--session"])
    }

    /// With a bus config file (for activation tests).
    pub fn start_with(args: &[&str]) -> Bus {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("dbus-daemon")
            .args(args)
            .args(["--print-address=1", "--print-pid=1", "--fork"])
            .stderr(Stdio::inherit())
            .output()
            .expect("dbus-daemon must be installed (apt-get install dbus-daemon)");
        assert!(out.status.success(), "dbus-daemon failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let address = lines
            .next()
            .expect("dbus-daemon printed no address")
            .trim()
            .to_string();
        let pid = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("dbus-daemon printed no pid");
        Bus { address, pid, dir }
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS");
        c
    }

    /// `busctl --user ARGS`, with a timeout of its own.
    pub fn busctl(&self, args: &[&str]) -> Output {
        run(self
            .command("busctl")
            .arg("--user")
            .arg("--timeout=30")
            .args(args))
    }

    /// `Recognize(text, {})` through `busctl`, which must succeed; its printed reply.
    pub fn recognize(&self, text: &str) -> String {
        ok(self.busctl(&["call", NAME, PATH, IFACE, "Recognize", "sa{sv}", text, "0"]))
    }

    /// `gdbus call --session --dest io.skylark.Assistant1 --object-path /io/skylark/Assistant1 --method io.skylark.Assistant1.METHOD ARGS`.
    pub fn gdbus_call(&self, method: &str, args: &[&str]) -> Output {
        run(self
            .command("gdbus")
            .args([
                "call",
                "--session",
                "--timeout",
                "30",
                "--dest",
                NAME,
                "--object-path",
                PATH,
                "--method",
            ])
            .arg(format!("{IFACE}.{method}"))
            .args(args))
    }

    /// `dbus-send --session --print-reply --dest=io.skylark.Assistant1 /io/skylark/Assistant1 io.skylark.Assistant1.METHOD ARGS`.
    pub fn dbus_send(&self, method: &str, args: &[&str]) -> Output {
        run(self
            .command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--reply-timeout=30000",
                &format!("--dest={NAME}"),
                PATH,
            ])
            .arg(format!("{IFACE}.{method}"))
            .args(args))
    }

    pub fn has_owner(&self) -> bool {
        let out = self.busctl(&["status", NAME]);
        out.status.success()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Asserts failure and returns stdout + stderr.
pub fn fails(o: Output) -> String {
    assert!(
        !o.status.success(),
        "command should have failed; stdout: {}",
        stdout(&o)
    );
    format!("{}{}", stdout(&o), stderr(&o))
}

/// `skylark daemon` as a separate process on `bus`, with an empty models dir and (optionally)
/// a config file. Stopped with SIGTERM, then SIGKILL, when dropped.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(bus: &Bus, config: &str) -> Daemon {
        let d = Daemon::spawn(bus, config, &[]);
        d.wait_ready(bus);
        d
    }

    /// Spawns without waiting for the name.
    pub fn spawn(bus: &Bus, config: &str, extra_args: &[&str]) -> Daemon {
        Daemon::spawn_with(bus, config, extra_args, None, &[])
    }

    /// On the installed models (speech stages loaded), with `env` added (e.g. a
    /// [`pulse::PulseServer`]'s), ready once it owns the name.
    pub fn start_with_models(bus: &Bus, config: &str, env: &[(String, String)]) -> Daemon {
        let models = models_dir();
        let d = Daemon::spawn_with(bus, config, &[], Some(&models), env);
        d.wait_ready(bus);
        d
    }

    /// `models`: a models dir (`None`: an empty one, so no speech stage loads).
    pub fn spawn_with(
        bus: &Bus,
        config: &str,
        extra_args: &[&str],
        models: Option<&Path>,
        env: &[(String, String)],
    ) -> Daemon {
        Daemon::spawn_wrapped(bus, config, extra_args, models, env, &[])
    }

    /// As [`spawn_with`](Self::spawn_with), run through `wrapper` (a program and its
    /// arguments that ends by `exec`ing the command appended to it, e.g. `unshare -m sh -c
    /// 'mount … && exec "$@"' sh`), so a fault can be set up around the daemon alone.
    pub fn spawn_wrapped(
        bus: &Bus,
        config: &str,
        extra_args: &[&str],
        models: Option<&Path>,
        env: &[(String, String)],
        wrapper: &[&str],
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).expect("write config");
        let models = match models {
            Some(m) => m.to_path_buf(),
            None => dir.path().join("models"),
        };
        std::fs::create_dir_all(&models).expect("models dir");
        let log = dir.path().join("daemon.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = bus.command(program);
                c.args(args).arg(skylark_bin());
                c
            }
            None => bus.command(skylark_bin()),
        };
        let child = cmd
            .arg("--config")
            .arg(&config_path)
            .arg("daemon")
            .args(extra_args)
            .env("SKYLARK_MODELS_DIR", &models)
            .env("XDG_CONFIG_HOME", dir.path())
            .env("SKYLARK_LOG", "debug")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn skylark daemon");
        Daemon {
            child: Some(child),
            log,
            dir,
        }
    }

    pub fn wait_ready(&self, bus: &Bus) {
        let start = Instant::now();
        while !bus.has_owner() {
            assert!(
                start.elapsed() < PATIENCE,
                "skylark daemon did not own {NAME}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's own temporary folder (its config, log and, with no models given, the
    /// empty models dir); removed when the daemon drops.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until the daemon logs that the lite LLM loaded (it loads after the daemon is
    /// on the bus, so a turn asked before would find no model).
    pub fn wait_llm_ready(&self) {
        let t = Instant::now();
        while !self.log().contains("lite LLM ready") {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the LLM did not load; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.pid();
        assert!(pid > 0, "the daemon is not running");
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status();
    }

    /// Waits (up to PATIENCE) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        let child = self.child.as_mut().expect("daemon already reaped");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "skylark daemon did not exit; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }
}

/// Stops a process we started, by its pid: SIGTERM, then SIGKILL after 5 s.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A long-running client process (gdbus monitor, a Python client) whose stdout lines are
/// collected on a thread; killed when dropped.
pub struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Watcher {
    pub fn spawn(mut cmd: Command) -> Watcher {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = err.read_to_string(&mut buf);
            if let Ok(mut s) = sink.lock() {
                s.push_str(&buf);
            }
        });
        Watcher {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// `gdbus monitor` on the daemon's name, ready once it reports the owner.
    pub fn monitor(bus: &Bus) -> Watcher {
        let mut cmd = bus.command("gdbus");
        cmd.args(["monitor", "--session", "--dest", NAME]);
        let mut w = Watcher::spawn(cmd);
        w.wait_for(|l| l.contains("is owned by"));
        w
    }

    /// The first (new) line that satisfies `pred`, within PATIENCE; panics with everything
    /// seen otherwise.
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(PATIENCE, pred)
    }

    /// As [`wait_for`](Self::wait_for), with a patience of its own (speech recognition on a
    /// loaded machine takes far longer than a D-Bus call).
    pub fn wait_for_within(&mut self, patience: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "line not seen within {patience:?}; lines so far:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
                ),
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "client did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gdbus monitor line: `IntentRecognized` of `climate.set_ac` with state on (what the test
/// clip "turn on the air conditioning" gives).
pub fn is_set_ac_on(line: &str) -> bool {
    line.contains(".IntentRecognized")
        && line.contains("'climate.set_ac'")
        && line.contains("'state': <'on'>")
}

/// The turn path in gdbus's / busctl's output.
pub fn turn_path_in(text: &str) -> String {
    let start = text
        .find("/io/skylark/Assistant1/turn/")
        .unwrap_or_else(|| panic!("no turn path in {text:?}"));
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '_')
        .collect()
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 when the process is gone.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How many file descriptors the process has open (`/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A process's resident memory and open descriptors at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    pub rss_kib: u64,
    pub fds: usize,
}

impl Footprint {
    pub fn of(pid: u32) -> Footprint {
        Footprint {
            rss_kib: status_kib(pid, "VmRSS:"),
            fds: open_fds(pid),
        }
    }

    /// Within 5 % of `base`: RSS at most 1.05×, descriptors at most 5 % more (so exactly as
    /// many below 20).
    pub fn within(&self, base: &Footprint) -> bool {
        self.rss_kib * 100 <= base.rss_kib * 105 && self.fds * 100 <= base.fds * 105
    }

    /// Waits up to `patience` for `pid` to come back within 5 % of `base` (memory handed back,
    /// descriptors closed); the last reading and whether it did.
    pub fn settle(pid: u32, base: &Footprint, patience: Duration) -> (Footprint, bool) {
        let start = Instant::now();
        loop {
            let now = Footprint::of(pid);
            if now.within(base) {
                return (now, true);
            }
            if start.elapsed() >= patience {
                return (now, false);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// The least-squares slope of `y` over `x` (0 with fewer than two distinct x).
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// A Piper-made clip of `text` (22.05 kHz mono), made by `skylark say --out` on the installed
/// models.
pub fn piper_clip(dir: &Path, name: &str, text: &str) -> PathBuf {
    let wav = dir.join(name);
    ok(run(Command::new(skylark_bin())
        .args(["say", text, "--out"])
        .arg(&wav)
        .env("SKYLARK_MODELS_DIR", models_dir())
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test")));
    wav
}
