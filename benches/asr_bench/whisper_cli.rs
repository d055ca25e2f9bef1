//! whisper.cpp's own command-line program, obtained and built the way a fresh machine would:
//! the PyPI sdist `pywhispercpp` 1.5.1 (MIT) vendors whisper.cpp 1.8.5 with `examples/cli`.
//! It is downloaded from PyPI's simple index (PEP 691 JSON) into `<cache>/bench/`, checked
//! against its sha256, unpacked and built once (`whisper-cli` only); none of it is committed.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

const PACKAGE: &str = "pywhispercpp";
const VERSION: &str = "1.5.1";
const FILE: &str = "pywhispercpp-1.5.1.tar.gz";
const SHA256: &str = "5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5";

/// The same GGML choices whisper-rs-sys 0.15 makes for skylark (its build.rs: Release, static
/// libraries, no OpenMP; `GGML_NATIVE=OFF` from `.cargo/config.toml`), so the two differ in
/// whisper.cpp version only, not in how ggml was compiled.
pub const CMAKE_ARGS: &[&str] = &[
    "-DGGML_NATIVE=OFF",
    "-DCMAKE_BUILD_TYPE=Release",
    "-DWHISPER_BUILD_TESTS=OFF",
    "-DWHISPER_BUILD_EXAMPLES=ON",
    "-DWHISPER_BUILD_SERVER=OFF",
    "-DGGML_OPENMP=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DWHISPER_SDL2=OFF",
    "-DWHISPER_CURL=OFF",
];

/// `$XDG_CACHE_HOME/skylark/bench` (else `~/.cache/skylark/bench`).
pub fn bench_dir() -> PathBuf {
    skylark::models::default_cache_dir().join("bench")
}

pub fn build_dir(dir: &Path) -> PathBuf {
    dir.join("whisper-cli-build")
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_body(Some(Duration::from_secs(300)))
        .build()
        .new_agent()
}

/// Find the sdist in the package's PEP 691 index page and download it to `dest`.
fn download(dest: &Path) -> Result<(), String> {
    let base = std::env::var("SKYLARK_PYPI_URL")
        .or_else(|_| std::env::var("PIP_INDEX_URL"))
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|_| "https://pypi.org/simple".into());
    let index = format!("{base}/{PACKAGE}/");
    let agent = agent();
    eprintln!("downloading {FILE} (index {index})");
    let body = agent
        .get(&index)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .map_err(|e| format!("{index}: {e}"))?
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| format!("{index}: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{index}: {e}"))?;
    let url = json["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["filename"].as_str() == Some(FILE))
        .and_then(|f| f["url"].as_str())
        .ok_or_else(|| format!("{index} does not list {FILE}"))?;
    let url = if url.starts_with("http://") || url.starts_with("https://") {
        url.to_string()
    } else {
        format!("{index}{url}")
    };
    let part = dest.with_extension("part");
    let mut resp = agent.get(&url).call().map_err(|e| format!("{url}: {e}"))?;
    let mut out = File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?;
    std::io::copy(&mut resp.body_mut().as_reader(), &mut out).map_err(|e| format!("{url}: {e}"))?;
    drop(out);
    let found = sha256_file(&part)?;
    if found != SHA256 {
        let _ = fs::remove_file(&part);
        return Err(format!("{url}: sha256 {found}, expected {SHA256}"));
    }
    fs::rename(&part, dest).map_err(|e| format!("{}: {e}", dest.display()))
}

/// The whisper.cpp source tree inside the unpacked sdist.
pub fn source_dir(dir: &Path) -> PathBuf {
    dir.join(format!("{PACKAGE}-{VERSION}/whisper.cpp"))
}

fn run(cmd: &mut Command, log: &Path) -> Result<(), String> {
    let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let status = cmd
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| format!("{cmd:?}: {e} (is cmake installed?)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status}); see {}", log.display()))
    }
}

/// The path of a built `whisper-cli`, downloading and building it on first use.
pub fn ensure(dir: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let build = build_dir(dir);
    let bin = build.join("bin/whisper-cli");
    let stamp = build.join("skylark-bench.stamp");
    let want_stamp = format!("{SHA256}\n{}\n", CMAKE_ARGS.join(" "));
    if bin.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(want_stamp.as_str()) {
        return Ok(bin);
    }
    let tarball = dir.join(FILE);
    if !tarball.is_file() || sha256_file(&tarball)? != SHA256 {
        download(&tarball)?;
    }
    let src = source_dir(dir);
    if !src.join("examples/cli/cli.cpp").is_file() {
        let unpacked = dir.join(format!("{PACKAGE}-{VERSION}"));
        let _ = fs::remove_dir_all(&unpacked);
        let f = File::open(&tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
        tar::Archive::new(flate2::read::GzDecoder::new(f))
            .unpack(dir)
            .map_err(|e| format!("unpacking {}: {e}", tarball.display()))?;
    }
    eprintln!("building whisper-cli in {} (once)", build.display());
    run(
        Command::new("cmake")
            .arg("-S")
            .arg(&src)
            .arg("-B")
            .arg(&build)
            .args(CMAKE_ARGS),
        &dir.join("configure.log"),
    )?;
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    run(
        Command::new("cmake").arg("--build").arg(&build).args([
            "--config",
            "Release",
            "--target",
            "whisper-cli",
            "-j",
            &jobs.to_string(),
        ]),
        &dir.join("build.log"),
    )?;
    if !bin.is_file() {
        return Err(format!(
            "the build finished but {} is missing",
            bin.display()
        ));
    }
    fs::write(&stamp, want_stamp).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(bin)
}

/// `KEY:TYPE=VALUE` entries of a CMakeCache.txt.
pub fn cmake_cache(path: &Path) -> Option<Vec<(String, String)>> {
    let text = fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("//"))
            .filter_map(|l| {
                let (k, v) = l.split_once('=')?;
                let (k, _ty) = k.split_once(':')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
    )
}

/// The CMakeCache.txt of the whisper-rs-sys build this bench links: cargo keeps build-script
/// output in `<build dir>/<profile>/build/whisper-rs-sys-*/out/build`, next to `deps/` where
/// this binary lives. With several (other branches share the build dir) the newest wins.
pub fn whisper_rs_sys_cache() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in fs::read_dir(profile.join("build")).ok()?.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("whisper-rs-sys-")
        {
            continue;
        }
        let cache = entry.path().join("out/build/CMakeCache.txt");
        if let Ok(t) = fs::metadata(&cache).and_then(|m| m.modified()) {
            if best.as_ref().is_none_or(|(b, _)| t > *b) {
                best = Some((t, cache));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// whisper.cpp's version from `project("whisper.cpp" VERSION x.y.z)` in its CMakeLists.txt.
pub fn whisper_cpp_version(source: &Path) -> Option<String> {
    let text = fs::read_to_string(source.join("CMakeLists.txt")).ok()?;
    let line = text
        .lines()
        .find(|l| l.contains("project(\"whisper.cpp\" VERSION"))?;
    Some(
        line.split("VERSION")
            .nth(1)?
            .trim()
            .trim_end_matches(')')
            .trim()
            .to_string(),
    )
}
