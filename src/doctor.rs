//! `skylark doctor`: what this machine has and lacks for each capability, with the exact fix.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Loaded;
use crate::models::{Check, Manifest, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Missing, but the daemon still serves what it can without it.
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub status: Status,
    pub what: String,
    pub detail: String,
    pub fix: Option<String>,
}

impl Finding {
    fn ok(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            status: Status::Ok,
            what: what.into(),
            detail: detail.into(),
            fix: None,
        }
    }
    fn bad(
        status: Status,
        what: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            status,
            what: what.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Run every check. Nothing is changed on the machine.
pub fn run(loaded: &Loaded, manifest: &Manifest) -> Vec<Finding> {
    let config = &loaded.config;
    let mut out = vec![Finding::ok(
        "config",
        match &loaded.path {
            Some(p) => format!("{}", p.display()),
            None => "built-in defaults (no config file found)".into(),
        },
    )];
    let dir = config.models_dir();
    let store = Store::new(&dir);
    let mut all_models = true;
    for model in &manifest.models {
        let problems = store.check_model(model, Check::Size);
        if problems.is_empty() {
            out.push(Finding::ok(
                format!("model {}", model.id),
                format!("{} ({})", model.folder(), model.role),
            ));
        } else {
            all_models = false;
            let list: Vec<String> = problems
                .iter()
                .map(|(f, p)| format!("{} {p}", dir.join(&f.path).display()))
                .collect();
            out.push(Finding::bad(
                Status::Fail,
                format!("model {}", model.id),
                list.join("; "),
                "skylark models fetch",
            ));
        }
    }
    if all_models {
        out.push(Finding::ok(
            "models dir",
            format!(
                "{} (sizes checked; `skylark models verify` checks sha256)",
                dir.display()
            ),
        ));
    }
    out.push(match crate::onnx::init(&dir) {
        Ok(p) => Finding::ok("ONNX Runtime", p.display().to_string()),
        Err(e) => Finding::bad(
            Status::Fail,
            "ONNX Runtime",
            first_line(&e.to_string()),
            "skylark models fetch",
        ),
    });
    out.push(session_bus());
    out.push(audio());
    out.push(match which("espeak-ng") {
        Some(p) => Finding::ok("espeak-ng", p.display().to_string()),
        None => Finding::bad(
            Status::Warn,
            "espeak-ng",
            "not found: no phonemes for the Piper voice and no Mandarin voice",
            "apt-get install espeak-ng",
        ),
    });
    out.push(match which(&config.models.python) {
        Some(p) => Finding::ok("python (model converters)", p.display().to_string()),
        None => Finding::bad(
            Status::Warn,
            "python (model converters)",
            format!(
                "`{}` not found: `skylark models fetch` cannot convert models",
                config.models.python
            ),
            "apt-get install python3 python3-venv",
        ),
    });
    out
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// The session bus from `DBUS_SESSION_BUS_ADDRESS`, tried with a real connection.
fn session_bus() -> Finding {
    const FIX: &str = "start one with `eval $(dbus-launch --sh-syntax)` (or run `dbus-run-session -- skylark daemon`); \
                       system services use `skylark daemon --system`";
    let Ok(address) = std::env::var("DBUS_SESSION_BUS_ADDRESS") else {
        return Finding::bad(
            Status::Fail,
            "D-Bus session bus",
            "DBUS_SESSION_BUS_ADDRESS is not set",
            FIX,
        );
    };
    for part in address.split(';') {
        let Some(rest) = part.strip_prefix("unix:") else {
            continue;
        };
        for kv in rest.split(',') {
            let res = if let Some(path) = kv.strip_prefix("path=") {
                UnixStream::connect(unescape(path))
            } else if let Some(name) = kv.strip_prefix("abstract=") {
                connect_abstract(&unescape(name))
            } else {
                continue;
            };
            return match res {
                Ok(_) => Finding::ok("D-Bus session bus", address.clone()),
                Err(e) => Finding::bad(
                    Status::Fail,
                    "D-Bus session bus",
                    format!("{address}: {e}"),
                    FIX,
                ),
            };
        }
    }
    Finding::bad(
        Status::Warn,
        "D-Bus session bus",
        format!("{address}: not a unix socket address; not tested"),
        FIX,
    )
}

fn connect_abstract(name: &str) -> std::io::Result<UnixStream> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(not(target_os = "android"))]
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    UnixStream::connect_addr(&addr)
}

/// D-Bus addresses escape bytes as `%xx`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A PulseAudio server (what cpal and rodio use on a headless or desktop Linux) or an ALSA card.
fn audio() -> Finding {
    const FIX: &str = "connect a sound card, or start PulseAudio (`pulseaudio --start`); \
                       text commands and D-Bus work without audio";
    match audio_device() {
        Some(device) => Finding::ok("audio", device),
        None => Finding::bad(
            Status::Warn,
            "audio",
            "no PulseAudio server and no ALSA sound card",
            FIX,
        ),
    }
}

/// The audio device a microphone or speaker would open, described (`PulseAudio at …`,
/// `ALSA: …`), or `None` when there is neither a PulseAudio server nor an ALSA card.
pub fn audio_device() -> Option<String> {
    let pulse = std::env::var("PULSE_SERVER")
        .ok()
        .and_then(|s| s.strip_prefix("unix:").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("XDG_RUNTIME_DIR").map(|d| Path::new(&d).join("pulse/native"))
        });
    if let Some(sock) = pulse {
        if UnixStream::connect(&sock).is_ok() {
            return Some(format!("PulseAudio at {}", sock.display()));
        }
    }
    let cards = std::fs::read_to_string("/proc/asound/cards").unwrap_or_default();
    if !cards.trim().is_empty() && !cards.contains("no soundcards") {
        return Some(format!("ALSA: {}", first_line(cards.trim())));
    }
    None
}

pub(crate) fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg("command -v \"$0\"")
        .arg(program)
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbus_address_unescape() {
        assert_eq!(unescape("/tmp/dbus%2dabc"), "/tmp/dbus-abc");
        assert_eq!(unescape("/tmp/plain"), "/tmp/plain");
        assert_eq!(unescape("100%"), "100%");
    }
}
