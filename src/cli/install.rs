//! `skylark install` / `skylark uninstall`: print what was done and what to run next.

use std::process::ExitCode;

use anyhow::Result;
use skylark::systemd::install::{self, Layout, Outcome};

use crate::InstallArgs;

pub fn install(args: &InstallArgs) -> Result<ExitCode> {
    let layout = Layout::new(args.prefix.as_deref(), args.user)?;
    let exe = std::env::current_exe().map_err(install::InstallError::Exe)?;
    for outcome in install::install(&layout, &exe)? {
        match outcome {
            Outcome::Written(p) => println!("installed {}", p.display()),
            Outcome::Kept(p) => println!("kept      {} (already there)", p.display()),
            Outcome::Removed(_) | Outcome::Absent(_) => {}
        }
    }
    let bin = layout.binary();
    if layout.user {
        println!(
            "next: {bin} models fetch; systemctl --user daemon-reload; systemctl --user enable --now skylark",
            bin = bin.display()
        );
    } else {
        println!(
            "next: systemd-sysusers; reload dbus (systemctl reload dbus); \
             install the models as the service user (sudo -u skylark XDG_DATA_HOME=/var/lib {bin} models fetch); \
             systemctl daemon-reload; systemctl enable --now skylark; \
             add callers to skylark-clients and handlers to skylark-handlers (usermod -aG)",
            bin = bin.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn uninstall(args: &InstallArgs) -> Result<ExitCode> {
    let layout = Layout::new(args.prefix.as_deref(), args.user)?;
    for outcome in install::uninstall(&layout)? {
        match outcome {
            Outcome::Removed(p) => println!("removed {}", p.display()),
            Outcome::Kept(p) => println!("kept    {} (changed since install)", p.display()),
            Outcome::Written(_) | Outcome::Absent(_) => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}
