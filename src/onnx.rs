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
