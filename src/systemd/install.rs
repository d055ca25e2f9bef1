//! `skylark install [--prefix DIR] [--user]` and `skylark uninstall`: the service files of
//! `systemd/` (built into the binary, so an installed `skylark` needs no source checkout), the
//! binary itself and a default config, put where systemd and dbus-daemon look for them.
//!
//! The tree (`systemd/README.md` shows it with the default prefixes):
//!
//! | file | system (`--prefix P`, default `/usr`) | user (`--user`: `~/.local`, or `--prefix P`) |
//! |---|---|---|
//! | binary | `P/bin/skylark` | `P/bin/skylark` |
//! | unit | `P/lib/systemd/system/skylark.service` | `~/.local/share/systemd/user/` or `P/lib/systemd/user/skylark.service` |
//! | users, groups | `P/lib/sysusers.d/skylark.conf` | — |
//! | bus policy | `P/share/dbus-1/system.d/io.skylark.Assistant1.conf` | — |
//! | activation | `P/share/dbus-1/system-services/io.skylark.Assistant1.service` | `P/share/dbus-1/services/io.skylark.Assistant1.service` |
//! | interface | `P/share/dbus-1/interfaces/io.skylark.Assistant1.xml` | same |
//! | cloud drop-in (a template) | `P/share/doc/skylark/cloud.conf` | same |
//! | config (kept if present) | `/etc/skylark/config.toml` (`P/etc/…` for other prefixes) | `~/.config/skylark/config.toml` (`P/etc/…`) |
//!
//! Paths inside the files (`/usr/bin/skylark`) are rewritten to the prefix. A prefix whose
//! config is not where the daemon looks (`/etc`, `$XDG_CONFIG_HOME`) gets `--config` in
//! `ExecStart=`.

use std::path::{Path, PathBuf};

/// A file of the install and where it goes.
#[derive(Debug, Clone)]
pub struct InstallFile {
    pub path: PathBuf,
    pub what: Content,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The running `skylark` binary.
    Binary,
    /// Text, written as is.
    Text(String),
    /// The default config: written only when no config is there, and removed by `uninstall`
    /// only if it was not changed.
    Config(String),
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot find this skylark binary to install it: {0}")]
    Exe(std::io::Error),
    #[error("cannot write {path}: {source}. Fix: run as a user who may write there (sudo for a system install), or choose another --prefix")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--prefix {0} is not an absolute path")]
    RelativePrefix(PathBuf),
}

const SYSTEM_UNIT: &str = include_str!("../../systemd/system/skylark.service");
const SYSTEM_ACTIVATION: &str = include_str!("../../systemd/system/io.skylark.Assistant1.service");
const USER_UNIT: &str = include_str!("../../systemd/user/skylark.service");
const USER_ACTIVATION: &str = include_str!("../../systemd/user/io.skylark.Assistant1.service");
const POLICY: &str = include_str!("../../systemd/io.skylark.Assistant1.conf");
const INTERFACE_XML: &str = include_str!("../../systemd/io.skylark.Assistant1.xml");
const SYSUSERS: &str = include_str!("../../systemd/skylark.sysusers");
const CLOUD_DROP_IN: &str = include_str!("../../systemd/cloud.conf");

/// Where the install goes: `prefix` (absolute), for the system or the calling user.
#[derive(Debug, Clone)]
pub struct Layout {
    pub prefix: PathBuf,
    pub user: bool,
    /// The user install into the home (`--user` without `--prefix`).
    home: Option<PathBuf>,
    /// Folder that holds `skylark/config.toml`.
    pub config_dir: PathBuf,
}

impl Layout {
    /// `--prefix` / `--user` as given. The home comes from `$HOME`, the user's config folder
    /// from `$XDG_CONFIG_HOME` (else `~/.config`).
    pub fn new(prefix: Option<&Path>, user: bool) -> Result<Layout, InstallError> {
        if let Some(p) = prefix.filter(|p| !p.is_absolute()) {
            return Err(InstallError::RelativePrefix(p.to_path_buf()));
        }
        let home = crate::models::home_dir();
        Ok(match (prefix, user) {
            (Some(p), _) => Layout {
                prefix: p.to_path_buf(),
                user,
                home: None,
                config_dir: if p == Path::new("/usr") {
                    PathBuf::from("/etc")
                } else {
                    p.join("etc")
                },
            },
            (None, false) => Layout {
                prefix: PathBuf::from("/usr"),
                user,
                home: None,
                config_dir: PathBuf::from("/etc"),
            },
            (None, true) => Layout {
                prefix: home.join(".local"),
                user,
                config_dir: std::env::var_os("XDG_CONFIG_HOME")
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join(".config")),
                home: Some(home),
            },
        })
    }

    pub fn binary(&self) -> PathBuf {
        self.prefix.join("bin/skylark")
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("skylark/config.toml")
    }

    /// Whether the daemon finds the config without `--config` (`/etc`, or the user's
    /// `$XDG_CONFIG_HOME` for a home install).
    fn config_found_by_default(&self) -> bool {
        self.config_dir == Path::new("/etc") || self.home.is_some()
    }

    /// Every file of the install, in the order it is written.
    pub fn files(&self) -> Vec<InstallFile> {
        let p = &self.prefix;
        let bin = self.binary();
        let exec = |text: &str| {
            let mut t = text.replace("/usr/bin/skylark", &bin.display().to_string());
            if !self.config_found_by_default() {
                let with = format!(
                    "{} --config {} daemon",
                    bin.display(),
                    self.config_file().display()
                );
                t = t.replace(&format!("{} daemon", bin.display()), &with);
            }
            t
        };
        let text = |path: PathBuf, t: String| InstallFile {
            path,
            what: Content::Text(t),
            mode: 0o644,
        };
        let mut files = vec![InstallFile {
            path: bin.clone(),
            what: Content::Binary,
            mode: 0o755,
        }];
        if self.user {
            let units = match &self.home {
                Some(_) => p.join("share/systemd/user"),
                None => p.join("lib/systemd/user"),
            };
            files.push(text(units.join("skylark.service"), exec(USER_UNIT)));
            files.push(text(
                p.join("share/dbus-1/services/io.skylark.Assistant1.service"),
                exec(USER_ACTIVATION),
            ));
        } else {
            files.push(text(
                p.join("lib/systemd/system/skylark.service"),
                exec(SYSTEM_UNIT),
            ));
            files.push(text(
                p.join("lib/sysusers.d/skylark.conf"),
                SYSUSERS.to_string(),
            ));
            files.push(text(
                p.join("share/dbus-1/system.d/io.skylark.Assistant1.conf"),
                POLICY.to_string(),
            ));
            files.push(text(
                p.join("share/dbus-1/system-services/io.skylark.Assistant1.service"),
                exec(SYSTEM_ACTIVATION),
            ));
        }
        files.push(text(
            p.join("share/dbus-1/interfaces/io.skylark.Assistant1.xml"),
            INTERFACE_XML.to_string(),
        ));
        files.push(text(
            p.join("share/doc/skylark/cloud.conf"),
            CLOUD_DROP_IN.to_string(),
        ));
        files.push(InstallFile {
            path: self.config_file(),
            what: Content::Config(default_config()),
            mode: 0o644,
        });
        files
    }
}

/// The config `install` writes: every key at its default, so an integrator sees what to set.
pub fn default_config() -> String {
    format!(
        "# skylark configuration: every key at its default (README.md § Configuration).\n\
         # Written by `skylark install`; edit freely, `skylark uninstall` keeps a changed file.\n\n{}",
        crate::config::Config::default().to_toml()
    )
}

/// What one file of an install or uninstall became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written(PathBuf),
    /// A config that exists already (install) or was changed (uninstall) is left alone.
    Kept(PathBuf),
    Removed(PathBuf),
    Absent(PathBuf),
}

/// Writes every file of `layout`; `exe` is the binary to copy.
pub fn install(layout: &Layout, exe: &Path) -> Result<Vec<Outcome>, InstallError> {
    let mut done = Vec::new();
    for f in layout.files() {
        let bytes = match &f.what {
            Content::Binary => {
                if same_file(exe, &f.path) {
                    done.push(Outcome::Kept(f.path));
                    continue;
                }
                std::fs::read(exe).map_err(InstallError::Exe)?
            }
            Content::Text(t) => t.clone().into_bytes(),
            Content::Config(t) => {
                if f.path.exists() {
                    done.push(Outcome::Kept(f.path));
                    continue;
                }
                t.clone().into_bytes()
            }
        };
        write_atomically(&f.path, &bytes, f.mode)?;
        done.push(Outcome::Written(f.path));
    }
    Ok(done)
}

/// Removes what `install` wrote (a changed config is kept), then the `share/doc/skylark`
/// and `skylark` config folders if they are empty.
pub fn uninstall(layout: &Layout) -> Result<Vec<Outcome>, InstallError> {
    let mut done = Vec::new();
    for f in layout.files() {
        if !f.path.exists() {
            done.push(Outcome::Absent(f.path));
            continue;
        }
        if let Content::Config(default) = &f.what {
            if std::fs::read_to_string(&f.path).ok().as_deref() != Some(default.as_str()) {
                done.push(Outcome::Kept(f.path));
                continue;
            }
        }
        std::fs::remove_file(&f.path).map_err(|source| InstallError::Remove {
            path: f.path.clone(),
            source,
        })?;
        done.push(Outcome::Removed(f.path));
    }
    for dir in [
        layout.prefix.join("share/doc/skylark"),
        layout.config_dir.join("skylark"),
    ] {
        let _ = std::fs::remove_dir(dir); // only succeeds when empty
    }
    Ok(done)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Written next to `path` and renamed over it, so a running binary or a reading bus never
/// sees half a file.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| InstallError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.skylark-install"));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_paths_are_rewritten_and_config_passed() {
        let layout = Layout::new(Some(Path::new("/opt/sky")), false).expect("layout");
        let files = layout.files();
        let unit = files
            .iter()
            .find(|f| f.path == Path::new("/opt/sky/lib/systemd/system/skylark.service"))
            .expect("system unit");
        let Content::Text(t) = &unit.what else {
            panic!("text")
        };
        assert!(
            t.contains("ExecStart=/opt/sky/bin/skylark --config /opt/sky/etc/skylark/config.toml daemon --system"),
            "{t}"
        );
    }

    #[test]
    fn usr_prefix_keeps_etc_and_no_config_flag() {
        let layout = Layout::new(None, false).expect("layout");
        assert_eq!(layout.config_file(), Path::new("/etc/skylark/config.toml"));
        let unit = layout
            .files()
            .into_iter()
            .find(|f| f.path.ends_with("lib/systemd/system/skylark.service"))
            .expect("unit");
        assert_eq!(unit.what, Content::Text(SYSTEM_UNIT.to_string()));
    }

    #[test]
    fn relative_prefix_is_refused() {
        assert!(matches!(
            Layout::new(Some(Path::new("stage")), false),
            Err(InstallError::RelativePrefix(_))
        ));
    }
}
