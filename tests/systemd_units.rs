//! The service files of `systemd/` as an integrator checks them: every unit verifies without a
//! word on stderr (`systemd-analyze verify` exits 0 on unknown keys, so stderr is what tells),
//! the system unit's exposure stays at or below 1.5, the inference libraries run with W^X
//! enforced (what `MemoryDenyWriteExecute=yes` needs), `skylark install` into a temporary
//! prefix produces the documented tree whose units verify, and `uninstall` removes it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `systemd-analyze [--user] verify UNIT` with the unit's drop-ins in `UNIT.d/`: success and
/// an empty stderr.
fn verify(unit: &Path, user: bool) {
    let runtime = tempfile::tempdir().expect("temp dir");
    run(Command::new("chmod").arg("700").arg(runtime.path()));
    let mut cmd = Command::new("systemd-analyze");
    if user {
        cmd.arg("--user").env("XDG_RUNTIME_DIR", runtime.path());
    }
    let out = run(cmd.arg("verify").arg(unit));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze {}verify {}: {}\n{}",
        if user { "--user " } else { "" },
        unit.display(),
        stdout(&out),
        stderr(&out)
    );
}

/// A copy of `systemd/<unit>` in a temp dir with ExecStart pointing at the built binary
/// (verify checks that it exists), optionally with the cloud drop-in.
fn unit_copy(dir: &Path, unit: &str, cloud: bool) -> PathBuf {
    let text = std::fs::read_to_string(repo(unit)).expect("unit file");
    let path = dir.join("skylark.service");
    std::fs::write(&path, text.replace("/usr/bin/skylark", skylark_bin())).expect("unit copy");
    if cloud {
        let d = dir.join("skylark.service.d");
        std::fs::create_dir_all(&d).expect("drop-in dir");
        std::fs::copy(repo("systemd/cloud.conf"), d.join("cloud.conf")).expect("drop-in");
    }
    path
}

#[test]
fn every_unit_verifies_cleanly() {
    for (unit, user) in [
        ("systemd/system/skylark.service", false),
        ("systemd/user/skylark.service", true),
    ] {
        for cloud in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            verify(&unit_copy(dir.path(), unit, cloud), user);
        }
    }
}

#[test]
fn units_are_notify_with_watchdog_and_restart() {
    for unit in [
        "systemd/system/skylark.service",
        "systemd/user/skylark.service",
    ] {
        let text = std::fs::read_to_string(repo(unit)).expect("unit");
        for key in [
            "Type=notify",
            "BusName=io.skylark.Assistant1",
            "WatchdogSec=",
            "Restart=on-failure",
            "StateDirectory=skylark",
            "CacheDirectory=skylark",
            "ConfigurationDirectory=skylark",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "MemoryDenyWriteExecute=yes",
            "RestrictAddressFamilies=AF_UNIX\n",
            "SystemCallFilter=@system-service",
        ] {
            assert!(text.contains(key), "{key} missing from {unit}");
        }
    }
    let system = std::fs::read_to_string(repo("systemd/system/skylark.service")).expect("unit");
    for key in [
        "User=skylark",
        "SupplementaryGroups=audio",
        "DevicePolicy=closed",
        "DeviceAllow=char-alsa rw",
        "IPAddressDeny=any",
    ] {
        assert!(system.contains(key), "{key} missing from the system unit");
    }
}

/// The "Overall exposure level for skylark.service: 0.4 SAFE" line, as a number.
fn exposure(unit: &Path) -> f64 {
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line: {text}\n{}", stderr(&out)));
    line.split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in {line:?}"))
}

#[test]
fn system_unit_exposure_is_at_most_1_5() {
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = unit_copy(dir.path(), "systemd/system/skylark.service", false);
    let e = exposure(&unit);
    assert!(e <= 1.5, "system unit exposure {e} > 1.5");
}

/// `MemoryDenyWriteExecute=yes` kills a process that maps memory writable and executable
/// (a JIT). The kernel's own form of the rule, `prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`
/// (Linux 6.3+, inherited across exec), applied before `skylark` starts: whisper.cpp
/// transcribes and ONNX Runtime runs the lite LLM.
#[test]
fn inference_runs_with_write_xor_execute() {
    use std::os::unix::process::CommandExt;
    let models = models_dir();
    const PR_SET_MDWE: libc::c_int = 65;
    const PR_MDWE_REFUSE_EXEC_GAIN: libc::c_ulong = 1;
    let mdwe = |cmd: &mut Command| {
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    let audio = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/audio/jfk.wav");
    let mut cmd = Command::new(skylark_bin());
    cmd.arg("transcribe")
        .arg(&audio)
        .env("SKYLARK_MODELS_DIR", &models);
    mdwe(&mut cmd);
    let out = run(&mut cmd);
    assert!(
        out.status.success() && stdout(&out).contains("ask not what your country"),
        "transcription under W^X (PR_SET_MDWE needs Linux 6.3+): {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let mut cmd = Command::new(skylark_bin());
    cmd.args(["ask", "--no-speak", "what is the capital of france"])
        .env("SKYLARK_MODELS_DIR", &models);
    mdwe(&mut cmd);
    let out = run(&mut cmd);
    assert!(
        out.status.success()
            && stderr(&out).contains("lite LLM ready")
            && stderr(&out).contains("LLM found no intent"),
        "the lite LLM under W^X: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The tree `systemd/README.md` documents, for the system and the user install.
#[test]
fn install_into_a_prefix_then_uninstall() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = dir.path().join("usr");
    let out = ok(run(Command::new(skylark_bin())
        .args(["install", "--prefix"])
        .arg(&prefix)));
    let system = [
        "bin/skylark",
        "lib/systemd/system/skylark.service",
        "lib/sysusers.d/skylark.conf",
        "share/dbus-1/system.d/io.skylark.Assistant1.conf",
        "share/dbus-1/system-services/io.skylark.Assistant1.service",
        "share/dbus-1/interfaces/io.skylark.Assistant1.xml",
        "share/doc/skylark/cloud.conf",
        "etc/skylark/config.toml",
    ];
    for f in system {
        assert!(
            prefix.join(f).is_file(),
            "{f} not installed; output:\n{out}"
        );
    }
    let user_out = ok(run(Command::new(skylark_bin())
        .args(["install", "--user", "--prefix"])
        .arg(&prefix)));
    for f in [
        "lib/systemd/user/skylark.service",
        "share/dbus-1/services/io.skylark.Assistant1.service",
    ] {
        assert!(
            prefix.join(f).is_file(),
            "{f} not installed; output:\n{user_out}"
        );
    }
    // The installed units point at the installed binary and config, and verify.
    let unit =
        std::fs::read_to_string(prefix.join("lib/systemd/system/skylark.service")).expect("unit");
    let exec = format!(
        "ExecStart={} --config {} daemon --system",
        prefix.join("bin/skylark").display(),
        prefix.join("etc/skylark/config.toml").display()
    );
    assert!(
        unit.contains(&exec),
        "{exec} not in the installed unit:\n{unit}"
    );
    verify(&prefix.join("lib/systemd/system/skylark.service"), false);
    verify(&prefix.join("lib/systemd/user/skylark.service"), true);
    // The installed binary runs, and the default config is one it accepts.
    ok(run(Command::new(prefix.join("bin/skylark"))
        .arg("--config")
        .arg(prefix.join("etc/skylark/config.toml"))
        .args(["config", "show"])));
    // A changed config survives uninstall; everything else goes.
    let config = prefix.join("etc/skylark/config.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("\n# changed by the integrator\n");
    std::fs::write(&config, text).expect("config");
    ok(run(Command::new(skylark_bin())
        .args(["uninstall", "--prefix"])
        .arg(&prefix)));
    ok(run(Command::new(skylark_bin())
        .args(["uninstall", "--user", "--prefix"])
        .arg(&prefix)));
    assert!(config.is_file(), "uninstall removed a changed config");
    let mut left = Vec::new();
    for entry in walk(&prefix) {
        if entry.is_file() {
            left.push(entry);
        }
    }
    assert_eq!(left, vec![config], "uninstall left files behind");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `systemd-sysusers` (into a scratch root) creates the service user in `audio` and the two
/// groups the bus policy names.
#[test]
fn sysusers_creates_the_user_and_groups() {
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(root.path().join("etc")).expect("etc");
    let out = run(Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(repo("systemd/skylark.sysusers")));
    assert!(out.status.success(), "systemd-sysusers: {}", stderr(&out));
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd");
    let group = std::fs::read_to_string(root.path().join("etc/group")).expect("group");
    assert!(
        passwd.lines().any(
            |l| l.starts_with("skylark:") && l.ends_with(":/var/lib/skylark:/usr/sbin/nologin")
        ),
        "{passwd}"
    );
    for g in ["skylark-clients:", "skylark-handlers:"] {
        assert!(
            group.lines().any(|l| l.starts_with(g)),
            "{g} missing: {group}"
        );
    }
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("audio:") && l.ends_with(":skylark")),
        "skylark is not in audio: {group}"
    );
}
