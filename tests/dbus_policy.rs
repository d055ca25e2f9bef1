//! The system-bus policy (`systemd/io.skylark.Assistant1.conf`) on a real dbus-daemon started
//! with a system-bus configuration (Debian's default-deny `system.conf` rules plus the
//! project's policy file), the real `skylark daemon --system` running as the `skylark` user,
//! and clients running under other uids (`setpriv`): an outsider, a member of
//! `skylark-clients` and one of `skylark-handlers`.
//!
//! Needs root (the tests create the users and groups, idempotently, with useradd/groupadd).

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use common::*;

const SERVICE_USER: &str = "skylark";
const OUTSIDER: &str = "skylark-test-outsider";
const CLIENT: &str = "skylark-test-client";
const HANDLER: &str = "skylark-test-handler";

/// Creates the users and groups once per test run; existing ones are reused.
fn accounts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the policy tests run clients under other uids: run them as root"
        );
        for group in ["audio", "skylark-clients", "skylark-handlers"] {
            let out = run(Command::new("groupadd").args(["-f", "--system", group]));
            assert!(out.status.success(), "groupadd {group}: {}", stderr(&out));
        }
        for (user, groups) in [
            (SERVICE_USER, "audio"),
            (OUTSIDER, ""),
            (CLIENT, "skylark-clients"),
            (HANDLER, "skylark-handlers"),
        ] {
            let exists = run(Command::new("getent").args(["passwd", user]))
                .status
                .success();
            let out = if exists {
                if groups.is_empty() {
                    continue;
                }
                run(Command::new("usermod").args(["-aG", groups, user]))
            } else {
                let mut cmd = Command::new("useradd");
                cmd.args(["--system", "--user-group", "--no-create-home"])
                    .args(["--shell", "/usr/sbin/nologin"]);
                if !groups.is_empty() {
                    cmd.args(["--groups", groups]);
                }
                run(cmd.arg(user))
            };
            assert!(
                out.status.success(),
                "creating user {user}: {}",
                stderr(&out)
            );
        }
    });
}

/// `program` run as `user` with that user's groups.
fn as_user(user: &str, program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={user}"),
        &format!("--regid={user}"),
        "--init-groups",
        "--",
        program,
    ]);
    cmd
}

/// A private bus configured like the system bus, with the project's policy included.
struct SystemBus {
    address: String,
    pid: u32,
    dir: tempfile::TempDir,
}

impl SystemBus {
    fn start() -> SystemBus {
        accounts();
        let dir = tempfile::tempdir().expect("temp dir");
        run(Command::new("chmod").arg("755").arg(dir.path()));
        let policy =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/io.skylark.Assistant1.conf");
        let config = dir.path().join("system.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- Debian's /usr/share/dbus-1/system.conf default context -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"#,
                socket = dir.path().join("system_bus_socket").display(),
                policy = policy.display()
            ),
        )
        .expect("bus config");
        let out = run(Command::new("dbus-daemon").args([
            &format!("--config-file={}", config.display()),
            "--print-address=1",
            "--print-pid=1",
            "--fork",
        ]));
        assert!(out.status.success(), "dbus-daemon: {}", stderr(&out));
        // Every rule must have loaded: an unknown user or group is only a warning to dbus.
        assert!(
            stderr(&out).trim().is_empty(),
            "dbus-daemon complained: {}",
            stderr(&out)
        );
        let text = stdout(&out);
        let mut lines = text.lines();
        let address = lines.next().expect("address").trim().to_string();
        let pid = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("pid");
        SystemBus { address, pid, dir }
    }

    /// `busctl --address=… ARGS` as `user`.
    fn busctl(&self, user: &str, args: &[&str]) -> Output {
        run(as_user(user, "busctl")
            .arg(format!("--address={}", self.address))
            .arg("--timeout=30")
            .args(args))
    }

    fn call(&self, user: &str, method: &str, signature: &str, args: &[&str]) -> Output {
        let mut all = vec!["call", NAME, PATH, IFACE, method, signature];
        all.extend_from_slice(args);
        self.busctl(user, &all)
    }

    /// `skylark daemon --system` as the service user, on an empty models dir (the grammar only).
    fn start_daemon(&self) -> Child {
        let models = self.dir.path().join("models");
        std::fs::create_dir_all(&models).expect("models dir");
        let config = self.dir.path().join("config.toml");
        std::fs::write(&config, "").expect("config");
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).expect("log");
        run(Command::new("chmod")
            .arg("666")
            .arg(self.dir.path().join("daemon.log")));
        let child = as_user(SERVICE_USER, skylark_bin())
            .arg("--config")
            .arg(&config)
            .args(["daemon", "--system"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .env("SKYLARK_MODELS_DIR", &models)
            .env("SKYLARK_LOG", "debug")
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn the daemon");
        let start = Instant::now();
        while !self.busctl(HANDLER, &["status", NAME]).status.success() {
            assert!(
                start.elapsed() < PATIENCE,
                "the daemon did not own {NAME}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// `gdbus monitor` on the assistant's name as `user`.
    fn monitor(&self, user: &str) -> Watcher {
        let mut cmd = as_user(user, "gdbus");
        cmd.args(["monitor", "--address", &self.address, "--dest", NAME]);
        Watcher::spawn(cmd)
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// `RegisterHandler("/h", ["climate.set_temperature"])` as `user`.
fn register(bus: &SystemBus, user: &str) -> Output {
    bus.call(
        user,
        "RegisterHandler",
        "oas",
        &["/h", "1", "climate.set_temperature"],
    )
}

fn denied(o: &Output) -> bool {
    !o.status.success() && stderr(o).contains("Access denied")
}

#[test]
fn only_group_members_call_and_only_handlers_register() {
    let bus = SystemBus::start();
    let _d = Stopped(bus.start_daemon());
    let ask = ["open the sunroof", "1", "speak", "b", "false"];
    // Outside the groups: the bus refuses every call.
    let o = bus.call(OUTSIDER, "Ask", "sa{sv}", &ask);
    assert!(denied(&o), "an outsider could call Ask: {o:?}");
    let o = bus.call(OUTSIDER, "Recognize", "sa{sv}", &["open the sunroof", "0"]);
    assert!(denied(&o), "an outsider could call Recognize: {o:?}");
    let o = register(&bus, OUTSIDER);
    assert!(denied(&o), "an outsider could RegisterHandler: {o:?}");
    // A client calls, but may not act on the car.
    let out = ok(bus.call(CLIENT, "Recognize", "sa{sv}", &["open the sunroof", "0"]));
    assert!(out.contains("\"sunroof.open\""), "{out}");
    let out = ok(bus.call(CLIENT, "Ask", "sa{sv}", &ask));
    assert!(out.contains("/io/skylark/Assistant1/turn/"), "{out}");
    ok(bus.busctl(CLIENT, &["get-property", NAME, PATH, IFACE, "State"]));
    // A client reads the figures `skylark stats --system` shows; an outsider does not.
    let out = ok(bus.call(CLIENT, "RecentTurns", "u", &["5"]));
    assert!(out.starts_with("aa{sv}"), "{out}");
    ok(bus.busctl(CLIENT, &["call", NAME, PATH, IFACE, "MemoryUsage"]));
    let o = bus.call(OUTSIDER, "RecentTurns", "u", &["5"]);
    assert!(denied(&o), "an outsider could read RecentTurns: {o:?}");
    let o = register(&bus, CLIENT);
    assert!(denied(&o), "a client could RegisterHandler: {o:?}");
    // A handler registers.
    ok(register(&bus, HANDLER));
    ok(bus.call(HANDLER, "Recognize", "sa{sv}", &["open the sunroof", "0"]));
}

#[test]
fn only_the_service_user_owns_the_name() {
    let bus = SystemBus::start();
    // Before the daemon: nobody else may take the name.
    for user in [OUTSIDER, CLIENT, HANDLER] {
        let o = bus.busctl(
            user,
            &[
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "RequestName",
                "su",
                NAME,
                "4",
            ],
        );
        assert!(denied(&o), "{user} could own {NAME}: {o:?}");
    }
    // The daemon as another user fails with the reason; as `skylark` it serves.
    let out = run(as_user(OUTSIDER, skylark_bin())
        .args(["daemon", "--system"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .env("SKYLARK_MODELS_DIR", bus.dir.path().join("no-models"))
        .env("XDG_CONFIG_HOME", bus.dir.path()));
    assert!(!out.status.success(), "the daemon served as {OUTSIDER}");
    assert!(stderr(&out).contains(NAME), "{}", stderr(&out));
    let _d = Stopped(bus.start_daemon());
}

#[test]
fn only_group_members_receive_the_signals() {
    let bus = SystemBus::start();
    let daemon = bus.start_daemon();
    let mut outsider = bus.monitor(OUTSIDER);
    let mut client = bus.monitor(CLIENT);
    let mut handler = bus.monitor(HANDLER);
    for w in [&mut outsider, &mut client, &mut handler] {
        w.wait_for(|l| l.contains("is owned by"));
    }
    ok(bus.call(
        CLIENT,
        "Ask",
        "sa{sv}",
        &[
            "set the temperature to 22 degrees",
            "1",
            "speak",
            "b",
            "false",
        ],
    ));
    for w in [&mut client, &mut handler] {
        w.wait_for(|l| l.contains("IntentRecognized") && l.contains("climate.set_temperature"));
        w.wait_for(|l| l.contains("TurnFinished"));
    }
    // The daemon leaves; the bus tells everyone (its own signal, which nobody filters). The
    // daemon's signals were dispatched before its disconnection, so by then the outsider has
    // been sent everything it would ever get.
    drop(Stopped(daemon));
    outsider.wait_for(|l| l.contains("does not have an owner"));
    let seen = outsider.seen.join("\n");
    for signal in [
        "IntentRecognized",
        "Transcript",
        "TurnFinished",
        "ResponseChunk",
        "PropertiesChanged",
    ] {
        assert!(
            !seen.contains(signal),
            "an outsider received {signal}:\n{seen}"
        );
    }
}
