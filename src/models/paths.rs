use std::path::PathBuf;

/// The ONNX Runtime shared library, relative to the models directory.
pub const ONNXRUNTIME_LIB: &str = "onnxruntime/libonnxruntime.so.1.32.0";

/// The models directory when neither the config nor `--models-dir` names one:
/// `$SKYLARK_MODELS_DIR`, else `$XDG_DATA_HOME/skylark/models`, else
/// `~/.local/share/skylark/models`. Models never live inside the git tree.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SKYLARK_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".local/share"));
    data.join("skylark/models")
}

pub(crate) fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Downloads, unpacked packages and the converters' Python environment:
/// `$XDG_CACHE_HOME/skylark`, else `~/.cache/skylark`. Safe to delete.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".cache"))
        .join("skylark")
}
