//! `skylark daemon` as a process: graceful shutdown on SIGTERM / SIGINT, a clear message
//! without a session bus, one daemon per bus, D-Bus activation, and the systemd unit.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// SIGTERM in the middle of a turn: the turn ends cancelled, the name is released and the
/// daemon exits 0.
#[test]
fn sigterm_cancels_the_turn_releases_the_name_and_exits_0() {
    let bus = Bus::start();
    let mut d = Daemon::start(&bus, "[dbus]\nhandler_timeout_ms = 60000\n");
    let mut cmd = bus.command(python().to_str().expect("utf-8"));
    cmd.arg(client_script("handler.py")).args([
        "--intent",
        "climate.set_temperature",
        "--ask",
        "set the temperature to 22 degrees",
        "--mode",
        "never",
    ]);
    let mut client = Watcher::spawn(cmd);
    let asked = json(&client.wait_for(|l| l.contains("\"asked\"")));
    client.wait_for(|l| l.contains("\"handle\""));
    d.signal("TERM");
    let finished = json(&client.wait_for(|l| l.contains("\"turn_finished\"")));
    assert_eq!(finished["turn"], asked["turn"]);
    assert_eq!(finished["status"], "cancelled");
    let status = d.wait_exit();
    assert_eq!(status.code(), Some(0), "log:\n{}", d.log());
    assert!(!bus.has_owner(), "the name is released");
    assert!(d.log().contains("SIGTERM: stopping"), "{}", d.log());
}

#[test]
fn sigint_when_idle_exits_0() {
    let bus = Bus::start();
    let mut d = Daemon::start(&bus, "");
    d.signal("INT");
    assert_eq!(d.wait_exit().code(), Some(0), "log:\n{}", d.log());
    assert!(!bus.has_owner());
}

#[test]
fn without_a_session_bus_the_daemon_says_how_to_get_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    for address in [None, Some("unix:path=/nonexistent/skylark-test-bus")] {
        let mut cmd = Command::new(skylark_bin());
        cmd.arg("daemon")
            .env("XDG_CONFIG_HOME", dir.path())
            .env("SKYLARK_MODELS_DIR", dir.path());
        match address {
            Some(a) => cmd.env("DBUS_SESSION_BUS_ADDRESS", a),
            None => cmd.env_remove("DBUS_SESSION_BUS_ADDRESS"),
        };
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = stderr(&out);
        assert!(err.contains("no D-Bus session bus"), "{err}");
        assert!(err.contains("dbus-run-session -- skylark daemon"), "{err}");
        assert!(err.contains("--system"), "{err}");
    }
}

#[test]
fn a_second_daemon_on_the_same_bus_is_refused() {
    let bus = Bus::start();
    let _first = Daemon::start(&bus, "");
    let mut second = Daemon::spawn(&bus, "", &[]);
    assert_eq!(second.wait_exit().code(), Some(1));
    assert!(second.log().contains("already owned"), "{}", second.log());
    // The first still serves.
    let out = bus.recognize("next song");
    assert!(out.contains("\"media.next\""), "{out}");
}

/// The activation file starts the daemon on the first call (the bus runs `Exec`, here
/// pointed at the built binary).
#[test]
fn dbus_activation_starts_the_daemon() {
    let dir = tempfile::tempdir().expect("temp dir");
    let services = dir.path().join("services");
    std::fs::create_dir_all(&services).expect("services dir");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).expect("models dir");
    let activation = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/user/io.skylark.Assistant1.service"),
    )
    .expect("systemd/user/io.skylark.Assistant1.service");
    assert!(activation.contains("SystemdService=skylark.service"));
    // A wrapper so the activated daemon finds an empty models dir and no user config.
    let wrapper = dir.path().join("skylark-activated");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport SKYLARK_MODELS_DIR='{}' XDG_CONFIG_HOME='{}'\necho $$ > '{}'\nexec '{}' \"$@\"\n",
            models.display(),
            dir.path().display(),
            dir.path().join("pid").display(),
            skylark_bin()
        ),
    )
    .expect("wrapper");
    run(Command::new("chmod").arg("+x").arg(&wrapper));
    std::fs::write(
        services.join("io.skylark.Assistant1.service"),
        activation.replace("/usr/bin/skylark", wrapper.to_str().expect("utf-8")),
    )
    .expect("service file");
    let config = dir.path().join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <servicedir>{}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.path().display(),
            services.display()
        ),
    )
    .expect("bus config");
    let bus = Bus::start_with(&[&format!("--config-file={}", config.display())]);
    assert!(!bus.has_owner());
    let out = bus.recognize("open the sunroof");
    assert!(out.contains("\"sunroof.open\""), "{out}");
    let pid = std::fs::read_to_string(dir.path().join("pid"))
        .expect("the activated daemon wrote its pid");
    let pid = pid.trim().to_string();
    run(Command::new("kill").arg("-TERM").arg(&pid));
    // Wait for it to go so the temp dir can be removed.
    let start = std::time::Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && start.elapsed() < PATIENCE {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// The units are checked by tests/systemd_units.rs.
