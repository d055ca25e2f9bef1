//! `sd_notify(3)` without libsystemd: one datagram to `$NOTIFY_SOCKET` per message.
//!
//! The protocol is a unix datagram of newline-separated `KEY=VALUE` lines. `$NOTIFY_SOCKET` is a
//! path (`/run/systemd/notify`) or an abstract socket (`@name`). Without the variable every call
//! is a no-op, so the daemon runs the same outside systemd.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// Where readiness, status and watchdog messages go. Cheap to clone.
#[derive(Clone, Default)]
pub struct Notifier {
    target: Option<Arc<Target>>,
}

struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// For messages (`NOTIFY_SOCKET=…`).
    name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={0:?} is not a socket path or an @abstract name")]
    BadAddress(String),
    #[error("cannot create a datagram socket for NOTIFY_SOCKET={name}: {source}")]
    Socket { name: String, source: io::Error },
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; none set means every message is dropped.
    pub fn from_env() -> Result<Notifier, NotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(name) if !name.is_empty() => Notifier::connect(&name),
            _ => Ok(Notifier::default()),
        }
    }

    /// To the socket `name` (a path, or `@abstract`).
    pub fn connect(name: &str) -> Result<Notifier, NotifyError> {
        let addr = parse_address(name)?;
        let socket = UnixDatagram::unbound().map_err(|source| NotifyError::Socket {
            name: name.to_string(),
            source,
        })?;
        Ok(Notifier {
            target: Some(Arc::new(Target {
                socket,
                addr,
                name: name.to_string(),
            })),
        })
    }

    /// Whether a service manager listens.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines). A failure is logged, not returned:
    /// the service manager going away must not stop the daemon.
    pub fn notify(&self, state: &str) {
        let Some(t) = &self.target else { return };
        if let Err(e) = t.socket.send_to_addr(state.as_bytes(), &t.addr) {
            tracing::debug!("sd_notify to NOTIFY_SOCKET={} failed: {e}", t.name);
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// `STATUS=`: what the daemon is doing, shown by `systemctl status`.
    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={}", one_line(status)));
    }

    /// `WATCHDOG=1`: the engine answered its probe.
    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.notify(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }
}

/// The service manager's watchdog timeout (`WatchdogSec=`, passed as `$WATCHDOG_USEC`), when
/// it is meant for this process (`$WATCHDOG_PID`, when set, is our pid).
pub fn watchdog_timeout() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    parse_watchdog_usec(&usec)
}

fn parse_watchdog_usec(usec: &str) -> Option<Duration> {
    match usec.trim().parse::<u64>() {
        Ok(0) | Err(_) => None,
        Ok(us) => Some(Duration::from_micros(us)),
    }
}

fn parse_address(name: &str) -> Result<SocketAddr, NotifyError> {
    let bad = || NotifyError::BadAddress(name.to_string());
    if let Some(abstract_name) = name.strip_prefix('@') {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(not(target_os = "android"))]
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(abstract_name.as_bytes()).map_err(|_| bad())
    } else if name.starts_with('/') {
        SocketAddr::from_pathname(name).map_err(|_| bad())
    } else {
        Err(bad())
    }
}

/// A status is one line: the protocol separates fields with newlines.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::connect(path.to_str().expect("utf-8")).expect("connect");
        n.ready("serving\non the bus");
        assert_eq!(receive(&listener), "READY=1\nSTATUS=serving on the bus");
        n.watchdog();
        assert_eq!(receive(&listener), "WATCHDOG=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(not(target_os = "android"))]
        use std::os::linux::net::SocketAddrExt;
        let name = format!("skylark-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let listener = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        let n = Notifier::connect(&format!("@{name}")).expect("connect");
        n.status("loading");
        assert_eq!(receive(&listener), "STATUS=loading");
    }

    #[test]
    fn refuses_a_relative_address() {
        assert!(matches!(
            Notifier::connect("notify"),
            Err(NotifyError::BadAddress(_))
        ));
    }

    #[test]
    fn no_socket_is_a_quiet_no_op() {
        let n = Notifier::default();
        assert!(!n.is_active());
        n.ready("nobody listens");
    }

    #[test]
    fn watchdog_usec_parses() {
        assert_eq!(parse_watchdog_usec("3000000"), Some(Duration::from_secs(3)));
        assert_eq!(parse_watchdog_usec("0"), None);
        assert_eq!(parse_watchdog_usec("soon"), None);
    }
}
