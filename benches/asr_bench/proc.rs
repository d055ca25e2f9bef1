//! Run a child process and measure it the same way for whisper-cli and for skylark's worker:
//! its output, and peak resident memory from the kernel's own account (`wait4`'s rusage).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Measured {
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size of the child, in KiB.
    pub max_rss_kb: i64,
}

/// Run `cmd` to completion with stdout and stderr in files under `tmp` (no pipe can fill
/// up), then reap it with `wait4` to read its own peak RSS. Killed after `timeout`: a
/// decoder stuck in a repetition loop must not stall the whole benchmark.
pub fn run_measured(cmd: &mut Command, tmp: &Path, timeout: Duration) -> Result<Measured, String> {
    let out_path = tmp.join("child.stdout");
    let err_path = tmp.join("child.stderr");
    let out = File::create(&out_path).map_err(|e| e.to_string())?;
    let err = File::create(&err_path).map_err(|e| e.to_string())?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it in for the child we just spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let deadline = Instant::now() + timeout;
    let mut killed = false;
    loop {
        // SAFETY: pid is our own child, the pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if r == -1 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("wait4 {cmd:?}: {e}"));
            }
        }
        if !killed && Instant::now() > deadline {
            // SAFETY: signalling our own, not yet reaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Reaped already: dropping `Child` neither waits nor kills.
    drop(child);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if killed {
        return Err(format!("timed out after {} s", timeout.as_secs()));
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        return Err(format!("{cmd:?} failed (wait status {status}):\n{stderr}"));
    }
    Ok(Measured { stdout, stderr, max_rss_kb: usage.ru_maxrss })
}

/// A line such as `VmHWM:   123456 kB` of /proc/self/status, in KiB.
pub fn proc_status_kb(key: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(-1)
}
