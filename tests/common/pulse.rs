//! A private PulseAudio server for tests that play or capture sound on a machine without a
//! sound card, started as the test's own process exactly as FACTS.md describes, with two null
//! sinks:
//! - `speaker` (the default sink): what skylark plays ends up here; record `speaker.monitor`
//!   to hear it;
//! - `vmic` (16 kHz mono): play a WAV into it (`play_into("vmic", wav)`) and its monitor,
//!   `vmic.monitor` (the default source), is a microphone that hears it.
//!
//! `HOME`, `XDG_RUNTIME_DIR` and `PULSE_RUNTIME_PATH` point into a temporary directory; the
//! server is stopped by the pid in its pid file when the guard drops. Give the programs under
//! test its environment with [`PulseServer::apply`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::PATIENCE;

pub struct PulseServer {
    dir: tempfile::TempDir,
    runtime: PathBuf,
    home: PathBuf,
}

impl PulseServer {
    /// Starts the server and waits until it answers `pactl info`.
    pub fn start() -> PulseServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = dir.path().join("run");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        std::fs::create_dir_all(&home).expect("home dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700));
        }
        let p = PulseServer { dir, runtime, home };
        p.launch();
        p
    }

    /// Starts the server process in this server's directories (again, after [`stop`]: the
    /// same socket, so clients configured for it reconnect) and waits until it answers.
    ///
    /// [`stop`]: Self::stop
    pub fn launch(&self) {
        let p = self;
        let socket = p.socket();
        let out = p
            .command("pulseaudio")
            .args([
                "-n",
                "--daemonize=yes",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--use-pid-file=yes",
                "--log-target=stderr",
                "-L",
            ])
            .arg(format!(
                "module-native-protocol-unix socket={} auth-anonymous=1",
                socket.display()
            ))
            .args([
                "-L",
                "module-null-sink sink_name=vmic rate=16000 channels=1",
            ])
            .args(["-L", "module-null-sink sink_name=speaker"])
            .stdin(Stdio::null())
            .output()
            .expect("pulseaudio must be installed (apt-get install pulseaudio pulseaudio-utils)");
        assert!(
            out.status.success(),
            "pulseaudio did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let start = Instant::now();
        loop {
            if p.pactl(&["info"]).status.success() {
                break;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "pulseaudio does not answer on {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let ok = p.pactl(&["set-default-sink", "speaker"]).status.success()
            && p.pactl(&["set-default-source", "vmic.monitor"])
                .status
                .success();
        assert!(ok, "cannot set the default sink and source");
    }

    /// Stops the server process (by the pid in its pid file) and waits until it is gone: for
    /// tests of a sound server that dies. [`launch`](Self::launch) starts it again.
    pub fn stop(&self) {
        let Ok(pid) = std::fs::read_to_string(self.runtime.join("pid")) else {
            return;
        };
        let pid = pid.trim().to_string();
        if pid.is_empty() {
            return;
        }
        let _ = Command::new("kill").arg(&pid).status();
        let start = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() && start.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.runtime.join("pid"));
    }

    /// The server's socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime.join("native")
    }

    /// `PULSE_SERVER=unix:…` and the server's runtime directories, for any client (skylark,
    /// parec, paplay, pactl).
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("PULSE_SERVER", format!("unix:{}", self.socket().display()))
            .env("PULSE_RUNTIME_PATH", &self.runtime)
            .env("XDG_RUNTIME_DIR", &self.runtime)
    }

    /// The environment [`apply`](Self::apply) sets, as pairs.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "PULSE_SERVER".into(),
                format!("unix:{}", self.socket().display()),
            ),
            (
                "PULSE_RUNTIME_PATH".into(),
                self.runtime.display().to_string(),
            ),
            ("XDG_RUNTIME_DIR".into(), self.runtime.display().to_string()),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        self.apply(&mut cmd).env("HOME", &self.home);
        cmd
    }

    pub fn pactl(&self, args: &[&str]) -> Output {
        self.command("pactl")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("pactl must be installed (apt-get install pulseaudio-utils)")
    }

    /// Starts recording `source` (e.g. `speaker.monitor`) as 16 kHz mono.
    pub fn record(&self, source: &str) -> Recording {
        let path = self
            .dir
            .path()
            .join(format!("rec-{}-{}.raw", source, std::process::id()));
        // Other clients (a daemon's microphone) may record already: wait for one more stream.
        let streams = |p: &PulseServer| {
            String::from_utf8_lossy(&p.pactl(&["list", "short", "source-outputs"]).stdout)
                .lines()
                .count()
        };
        let before = streams(self);
        let child = self
            .command("parec")
            .args([
                "-d",
                source,
                "--format=s16le",
                "--rate=16000",
                "--channels=1",
                "--raw",
                "--latency-msec=20",
            ])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("parec must be installed (apt-get install pulseaudio-utils)");
        // parec is connected once the source lists a recording stream.
        let start = Instant::now();
        while streams(self) <= before {
            assert!(start.elapsed() < PATIENCE, "parec did not connect");
            std::thread::sleep(Duration::from_millis(20));
        }
        Recording {
            child: Some(child),
            path,
        }
    }

    /// Plays a WAV into `sink` (e.g. `vmic`) and waits until it has played.
    pub fn play_into(&self, sink: &str, wav: &Path) -> Output {
        self.command("paplay")
            .args(["-d", sink])
            .arg(wav)
            .stdin(Stdio::null())
            .output()
            .expect("paplay must be installed (apt-get install pulseaudio-utils)")
    }
}

impl Drop for PulseServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `parec`; [`Recording::stop`] gives what it heard.
pub struct Recording {
    child: Option<Child>,
    path: PathBuf,
}

impl Recording {
    /// The samples so far (16 kHz mono, -1..1), while it keeps recording.
    pub fn samples(&self) -> Vec<f32> {
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        bytes
            .chunks_exact(2)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
            .collect()
    }

    /// Samples written so far (parec writes every 20 ms).
    pub fn len(&self) -> i64 {
        std::fs::metadata(&self.path)
            .map(|m| (m.len() / 2) as i64)
            .unwrap_or(0)
    }

    /// Stops parec (by pid) and returns everything recorded.
    pub fn stop(mut self) -> Vec<f32> {
        // parec writes every 20 ms; give the last block time to land.
        std::thread::sleep(Duration::from_millis(200));
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
        self.samples()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Root mean square of `samples`.
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

/// Seconds of 16 kHz audio that are sound: 50 ms blocks whose RMS is above `threshold`
/// (about -46 dBFS at 0.005).
pub fn active_seconds(samples: &[f32], threshold: f32) -> f32 {
    samples
        .chunks(800)
        .filter(|b| b.len() == 800 && rms(b) > threshold)
        .count() as f32
        * 0.05
}

/// Start and end (seconds) of the sound in 16 kHz audio, if any.
pub fn active_span(samples: &[f32], threshold: f32) -> Option<(f32, f32)> {
    let blocks: Vec<bool> = samples.chunks(800).map(|b| rms(b) > threshold).collect();
    let first = blocks.iter().position(|a| *a)?;
    let last = blocks.iter().rposition(|a| *a)?;
    Some((first as f32 * 0.05, (last + 1) as f32 * 0.05))
}

/// How many samples `a` is ahead of `b` (both running): sample `i` of `b` was recorded at
/// the same moment as sample `i + offset` of `a`. The median of 25 simultaneous looks at both
/// files' lengths, 20 ms apart, so parec's 20 ms writes average out (about ±10 ms).
pub fn sample_offset(a: &Recording, b: &Recording) -> i64 {
    let mut diffs: Vec<i64> = (0..25)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            a.len() - b.len()
        })
        .collect();
    diffs.sort_unstable();
    diffs[diffs.len() / 2]
}
