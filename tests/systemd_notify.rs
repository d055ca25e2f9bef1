//! The daemon speaks systemd's notify protocol: the test plays the service manager, listening
//! on a `NOTIFY_SOCKET` of its own with `WATCHDOG_USEC` set, while the real `skylark daemon`
//! runs on a private bus (on the installed models where readiness must wait for them).

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// The watchdog timeout given to the daemon: it pings every half of it.
const WATCHDOG_USEC: u64 = 400_000;

/// The notify socket and what arrives on it, one message per datagram.
struct ServiceManager {
    path: PathBuf,
    messages: mpsc::Receiver<String>,
    seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl ServiceManager {
    fn listen() -> ServiceManager {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf) {
                if tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
                {
                    return;
                }
            }
        });
        ServiceManager {
            path,
            messages,
            seen: Vec::new(),
            _dir: dir,
        }
    }

    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("NOTIFY_SOCKET".to_string(), self.path.display().to_string()),
            ("WATCHDOG_USEC".to_string(), WATCHDOG_USEC.to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// The next message that satisfies `pred` (within PATIENCE).
    fn wait_for(&mut self, d: &Daemon, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.messages.recv_timeout(PATIENCE) {
                Ok(m) => {
                    self.seen.push(m.clone());
                    if pred(&m) {
                        return m;
                    }
                }
                Err(_) => panic!(
                    "notify message not seen; so far:\n{:#?}\ndaemon log:\n{}",
                    self.seen,
                    d.log()
                ),
            }
        }
    }

    /// Every message that arrives within `window`.
    fn collect(&mut self, window: Duration) -> Vec<String> {
        let end = std::time::Instant::now() + window;
        let mut got = Vec::new();
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            match self.messages.recv_timeout(left) {
                Ok(m) => got.push(m),
                Err(_) => break,
            }
        }
        self.seen.extend(got.iter().cloned());
        got
    }
}

fn is_watchdog(m: &str) -> bool {
    m.lines().any(|l| l == "WATCHDOG=1")
}

/// READY=1 comes only once the name is owned and the models (speech, then the lite LLM) are
/// loaded, after STATUS= lines saying what it is loading; a turn shows in STATUS=; WATCHDOG=1
/// keeps coming.
#[test]
fn ready_after_name_and_models_then_status_and_watchdog() {
    let models = models_dir();
    let mut sm = ServiceManager::listen();
    let bus = Bus::start();
    let d = Daemon::spawn_with(&bus, "", &[], Some(&models), &sm.env(&[]));
    let ready = sm.wait_for(&d, |m| m.contains("READY=1"));
    // At the moment READY=1 arrived, the name was owned and the models were loaded.
    assert!(bus.has_owner(), "READY=1 before {NAME} was owned");
    let log = d.log();
    for loaded in ["speech model loaded", "lite LLM ready"] {
        assert!(
            log.contains(loaded),
            "READY=1 before `{loaded}`; log:\n{log}"
        );
    }
    assert!(
        ready.contains("STATUS=serving on the session bus: idle"),
        "{ready}"
    );
    let before: Vec<&String> = sm
        .seen
        .iter()
        .take_while(|m| !m.contains("READY=1"))
        .collect();
    for status in [
        "STATUS=loading the intent grammar and the speech models",
        "STATUS=connecting to the session bus",
        "STATUS=loading the language model",
    ] {
        assert!(
            before.iter().any(|m| m.contains(status)),
            "{status} not sent before READY=1: {before:#?}"
        );
    }
    // A turn shows as thinking, then idle again.
    ok(bus.busctl(&[
        "call",
        NAME,
        PATH,
        IFACE,
        "Ask",
        "sa{sv}",
        "open the sunroof",
        "1",
        "speak",
        "b",
        "false",
    ]));
    sm.wait_for(&d, |m| {
        m.contains("STATUS=serving on the session bus: thinking")
    });
    sm.wait_for(&d, |m| {
        m.contains("STATUS=serving on the session bus: idle")
    });
    // The watchdog keeps being fed.
    for _ in 0..3 {
        sm.wait_for(&d, is_watchdog);
    }
}

/// With the engine's state locked for good (the test hook), the watchdog pings stop although
/// every thread of the process is alive.
#[test]
fn a_stalled_engine_stops_the_watchdog_pings() {
    let mut sm = ServiceManager::listen();
    let bus = Bus::start();
    let d = Daemon::spawn_with(
        &bus,
        "",
        &[],
        None,
        &sm.env(&[("SKYLARK_TEST_STALL_ENGINE", "1500")]),
    );
    sm.wait_for(&d, |m| m.contains("READY=1"));
    // Healthy: pings arrive.
    for _ in 0..2 {
        sm.wait_for(&d, is_watchdog);
    }
    sm.wait_for(&d, |m| m.contains("STATUS=engine stalled"));
    // A probe that passed the lock just before the stall may still ping once; after that,
    // none in ten watchdog periods (the service manager would have restarted us after two).
    let _ = sm.collect(Duration::from_micros(WATCHDOG_USEC));
    let after = sm.collect(Duration::from_micros(WATCHDOG_USEC * 5));
    assert!(
        !after.iter().any(|m| is_watchdog(m)),
        "WATCHDOG=1 after the engine stalled: {after:#?}\nlog:\n{}",
        d.log()
    );
    // The process itself is alive: it is the engine that stopped answering.
    assert!(std::path::Path::new(&format!("/proc/{}", d.pid())).exists());
    let mut d = d;
    d.signal("KILL");
    d.wait_exit();
}
