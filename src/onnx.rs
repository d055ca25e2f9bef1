//! ONNX Runtime loading. skylark links ONNX Runtime dynamically (`ort`'s `load-dynamic`), so a
//! missing or wrong library is a run-time error we can explain instead of a link failure.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error, Clone)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found at {path}.\n\
         skylark loads ONNX Runtime {version} at run time. Fix: run `skylark models fetch` \
         (it installs the library from the `onnxruntime` wheel), or set ORT_DYLIB_PATH to an \
         existing libonnxruntime.so of version {version}."
    )]
    Missing {
        path: PathBuf,
        version: &'static str,
    },
    #[error(
        "ONNX Runtime library at {path} could not be loaded: {reason}.\n\
         Fix: run `skylark models verify` and then `skylark models fetch` to reinstall it, \
         or point ORT_DYLIB_PATH at a working libonnxruntime.so of version {version}."
    )]
    Load {
        path: PathBuf,
        reason: String,
        version: &'static str,
    },
}

pub const ORT_VERSION: &str = "1.32.0";

static INIT: OnceLock<Result<PathBuf, RuntimeError>> = OnceLock::new();
/// The process-wide ONNX Runtime environment; sessions are created in it.
static ENV: OnceLock<ort::environment::Environment> = OnceLock::new();

/// The library that will be loaded: `$ORT_DYLIB_PATH` if set, else the one in the models dir.
pub fn library_path(models_dir: &Path) -> PathBuf {
    match std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => models_dir.join(crate::models::ONNXRUNTIME_LIB),
    }
}

/// Load ONNX Runtime once per process. Later calls return the first outcome.
pub fn init(models_dir: &Path) -> Result<&'static Path, RuntimeError> {
    let res = INIT.get_or_init(|| {
        let path = library_path(models_dir);
        if !path.is_file() {
            return Err(RuntimeError::Missing {
                path,
                version: ORT_VERSION,
            });
        }
        // `ort` may panic inside when the file is not a loadable library; keep that from
        // escaping as a backtrace.
        let attempt = std::panic::catch_unwind(|| -> Result<_, String> {
            let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
            builder
                .with_name("skylark")
                .build()
                .map_err(|e| e.to_string())
        });
        match attempt {
            Ok(Ok(env)) => {
                let _ = ENV.set(env);
                Ok(path)
            }
            Ok(Err(reason)) => Err(RuntimeError::Load {
                path,
                reason,
                version: ORT_VERSION,
            }),
            Err(_) => Err(RuntimeError::Load {
                path,
                reason: "the file is not a loadable shared library".into(),
                version: ORT_VERSION,
            }),
        }
    });
    match res {
        Ok(p) => Ok(p.as_path()),
        Err(e) => Err(e.clone()),
    }
}

/// The process-wide ONNX Runtime environment, once [`init`] has succeeded. `ort` rc.15 needs it
/// to build a session (`Session::builder(env)`), so every model runner asks for it here.
pub fn environment() -> Option<&'static ort::environment::Environment> {
    ENV.get()
}

/// The process-wide environment, loading ONNX Runtime first if needed. `ort` sessions are
/// built in it (`Session::builder(env)`), so every model shares one runtime and thread setup.
pub fn load_environment(
    models_dir: &Path,
) -> Result<&'static ort::environment::Environment, RuntimeError> {
    let path = init(models_dir)?;
    ENV.get().ok_or_else(|| RuntimeError::Load {
        path: path.to_path_buf(),
        reason: "the ONNX Runtime environment was not created".into(),
        version: ORT_VERSION,
    })
}

/// A hash of what an optimised graph or a probe of `model` depends on besides its options
/// (`variant`): the model file (canonical path, size, modification time), the ONNX Runtime
/// library (size, modification time) and the CPU (its flags: kernels and prepacked layouts
/// differ by instruction set). Any change gives a new key, so nothing stale is ever read.
/// `None` when the model cannot be read.
pub fn cache_key(model: &Path, variant: &str) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let stamp = |p: &Path| -> Option<(u64, u128)> {
        let m = std::fs::metadata(p).ok()?;
        let mtime = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some((m.len(), mtime))
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::canonicalize(model).ok()?.hash(&mut h);
    stamp(model)?.hash(&mut h);
    let library = INIT.get().and_then(|r| r.as_ref().ok());
    library.and_then(|p| stamp(p)).hash(&mut h);
    ORT_VERSION.hash(&mut h);
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpu.lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("")
        .hash(&mut h);
    variant.hash(&mut h);
    Some(h.finish())
}

/// The optimised graph of a cached model, and its weights file.
const CACHED_GRAPH: &str = "model.onnx";
const CACHED_WEIGHTS: &str = "model.data";

/// Creates the session of `model` with `builder`'s options, through a cache of its optimised
/// form under `$XDG_CACHE_HOME/skylark/onnx/`: ONNX Runtime's optimised graph, with every
/// weight — and each weight as its kernel prepacked it — in one external data file.
///
/// The first start creates the session from `model` as before and has ONNX Runtime write that
/// form (`optimized_model_filepath`, `session.save_external_prepacked_constant_initializers`);
/// later starts load it with no graph optimisation and no prepacking, and ONNX Runtime maps the
/// weights file instead of copying the weights to the heap. Measured on this project's 2-core
/// VM: session creation of the lite LLM 0.63 → 0.37–0.55 s, the semantic model 0.25 → 0.09 s,
/// the Piper voice 0.66–0.93 → 0.16–0.21 s; logits bit-identical (same graph, same kernels).
/// Memory: weights the kernels prepacked are no longer held twice (the original stays in the
/// file, untouched), and embedding tables are read only in the rows used (the semantic
/// model's 250,000-token table; the LLM's input embeddings); what is mapped is resident once
/// used, and file pages the kernel can drop and read again under memory pressure.
///
/// `variant` names the options that change the optimised graph (optimisation level,
/// execution providers; the caller passes a different string for each). Anything wrong with
/// the cache — unwritable, full, damaged — costs only time: the model loads from `model`, and
/// a warning names the directory.
pub fn commit_cached(
    builder: ort::session::builder::SessionBuilder,
    model: &Path,
    variant: &str,
) -> Result<ort::session::Session, ort::Error> {
    let Some(dir) = cached_dir(model, variant) else {
        let mut builder = builder;
        return builder.commit_from_file(model);
    };
    let unoptimised = |b: ort::session::builder::SessionBuilder| {
        b.with_optimization_level(ort::session::builder::GraphOptimizationLevel::Disable)
            .map_err(ort::Error::<()>::from)
    };
    let graph = dir.join(CACHED_GRAPH);
    if graph.is_file() && dir.join(CACHED_WEIGHTS).is_file() {
        match unoptimised(builder.clone()).and_then(|mut b| b.commit_from_file(&graph)) {
            Ok(session) => {
                tracing::debug!(model = %model.display(), cache = %dir.display(), "ONNX model loaded from its optimised form");
                return Ok(session);
            }
            Err(e) => {
                tracing::warn!(model = %model.display(), cache = %dir.display(), "the cached optimised model does not load ({e}); removing it and loading the model itself");
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    if let Err(e) = write_cached(&builder, model, &dir) {
        // A model that does not load at all fails here with its own error, not the cache's.
        let mut builder = builder;
        let session = builder.commit_from_file(model)?;
        tracing::warn!(model = %model.display(), cache = %dir.display(), "cannot keep the optimised model in the cache ({e}); the next start optimises it again");
        return Ok(session);
    }
    match unoptimised(builder.clone()).and_then(|mut b| b.commit_from_file(&graph)) {
        Ok(session) => Ok(session),
        Err(e) => {
            tracing::warn!(model = %model.display(), cache = %dir.display(), "the optimised model just written does not load ({e}); removing it and loading the model itself");
            let _ = std::fs::remove_dir_all(&dir);
            let mut builder = builder;
            builder.commit_from_file(model)
        }
    }
}

/// `$XDG_CACHE_HOME/skylark/onnx/<model name>-<path hash>-<key>`.
fn cached_dir(model: &Path, variant: &str) -> Option<PathBuf> {
    let key = cache_key(model, variant)?;
    Some(
        crate::models::default_cache_dir()
            .join("onnx")
            .join(format!("{}-{key:016x}", cache_prefix(model)?)),
    )
}

/// The part of a cached model's directory name that does not change when the model file
/// does: its folder and file name and a hash of its path (older versions are pruned by it).
fn cache_prefix(model: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let path = std::fs::canonicalize(model).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    let name = |p: Option<&std::ffi::OsStr>| {
        p.map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    let folder = name(path.parent().and_then(Path::file_name));
    let file = name(path.file_stem());
    Some(format!("{folder}-{file}-{:08x}", h.finish() as u32))
}

/// Has ONNX Runtime write the optimised form of `model` into a directory of its own beside
/// `dir`, then renames it to `dir` (a reader never sees half of it; when another process got
/// there first, its copy stands) and removes older versions of the same model.
fn write_cached(
    builder: &ort::session::builder::SessionBuilder,
    model: &Path,
    dir: &Path,
) -> Result<(), String> {
    let parent = dir.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let tmp = parent.join(format!(
        ".{}.tmp{}",
        dir.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = (|| -> Result<(), String> {
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let text = |e: ort::Error<ort::session::builder::SessionBuilder>| e.to_string();
        let mut saving = builder
            .clone()
            .with_optimized_model_path(tmp.join(CACHED_GRAPH))
            .map_err(text)?
            .with_config_entry(
                "session.optimized_model_external_initializers_file_name",
                CACHED_WEIGHTS,
            )
            .map_err(text)?
            .with_config_entry(
                "session.optimized_model_external_initializers_min_size_in_bytes",
                "1024",
            )
            .map_err(text)?
            .with_config_entry("session.save_external_prepacked_constant_initializers", "1")
            .map_err(text)?;
        let session = saving.commit_from_file(model).map_err(|e| e.to_string())?;
        drop(session);
        for f in [CACHED_GRAPH, CACHED_WEIGHTS] {
            // Written and flushed: a crash after the rename never leaves a short file.
            std::fs::File::open(tmp.join(f))
                .and_then(|file| file.sync_all())
                .map_err(|e| format!("{f}: {e}"))?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if std::fs::rename(&tmp, dir).is_err() {
        // Another process wrote it meanwhile; theirs is as good.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.join(CACHED_GRAPH).is_file() {
            return Err(format!("cannot move {} into place", tmp.display()));
        }
    }
    prune_older(model, dir);
    Ok(())
}

/// Removes the cached forms of earlier versions of `model` (same path, other key): a model
/// replaced on disk leaves nothing behind. A running process that still maps one keeps it
/// until it exits.
fn prune_older(model: &Path, keep: &Path) {
    let (Some(prefix), Some(parent)) = (cache_prefix(model), keep.parent()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{prefix}-")) && entry.path() != keep {
            tracing::debug!(cache = %entry.path().display(), "removing the optimised form of an earlier version of the model");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
