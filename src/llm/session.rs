//! Session options from the config: threads, graph optimisation level and the execution
//! providers to try, in order. CPU is always the fallback: a provider this ONNX Runtime build
//! lacks, or one that fails to register, is a logged warning, never an error.

use std::ffi::{c_char, c_int, CStr, CString};

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::AsPointer;

/// Graph optimisation level, as written in the config (`disable`, `basic`, `extended`, `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphOptimization {
    Disable,
    Basic,
    Extended,
    #[default]
    All,
}

impl GraphOptimization {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "disable" | "none" | "off" => Some(Self::Disable),
            "basic" | "1" => Some(Self::Basic),
            "extended" | "2" => Some(Self::Extended),
            "all" | "3" | "" => Some(Self::All),
            _ => None,
        }
    }

    fn level(self) -> GraphOptimizationLevel {
        match self {
            Self::Disable => GraphOptimizationLevel::Disable,
            Self::Basic => GraphOptimizationLevel::Level1,
            Self::Extended => GraphOptimizationLevel::Level2,
            Self::All => GraphOptimizationLevel::All,
        }
    }
}

/// Config names of execution providers → ONNX Runtime's provider names. Only providers that
/// ONNX Runtime registers by name (`SessionOptionsAppendExecutionProvider`) are listed; CUDA /
/// TensorRT need their own option structs and are reported as not supported by this build.
const BY_NAME: &[(&str, &str, &str)] = &[
    // (config name, name in GetAvailableProviders, name for SessionOptionsAppendExecutionProvider)
    ("xnnpack", "XnnpackExecutionProvider", "XNNPACK"),
    ("openvino", "OpenVINOExecutionProvider", "OpenVINO"),
    ("qnn", "QNNExecutionProvider", "QNN"),
    ("snpe", "SNPEExecutionProvider", "SNPE"),
    ("coreml", "CoreMLExecutionProvider", "CoreML"),
    ("webgpu", "WebGpuExecutionProvider", "WebGPU"),
    ("vitisai", "VitisAIExecutionProvider", "VitisAI"),
];

/// Providers compiled into the loaded ONNX Runtime library (e.g. `CPUExecutionProvider`).
pub fn available_providers() -> Vec<String> {
    let api = ort::api();
    let mut list: *mut *mut c_char = std::ptr::null_mut();
    let mut n: c_int = 0;
    // SAFETY: plain C API call with valid out-pointers; the list is released below.
    let status = unsafe { (api.GetAvailableProviders)(&mut list, &mut n) };
    if !status.0.is_null() {
        // SAFETY: a non-null status is owned by us and released once.
        unsafe { (api.ReleaseStatus)(status.0) };
        return Vec::new();
    }
    if list.is_null() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for i in 0..usize::try_from(n).unwrap_or(0) {
        // SAFETY: ONNX Runtime returned `n` valid NUL-terminated strings.
        let p = unsafe { *list.add(i) };
        if !p.is_null() {
            out.push(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
        }
    }
    // SAFETY: releases what GetAvailableProviders allocated.
    let status = unsafe { (api.ReleaseAvailableProviders)(list, n) };
    if !status.0.is_null() {
        unsafe { (api.ReleaseStatus)(status.0) };
    }
    out
}

/// Apply threads, optimisation level and providers to `builder`. Returns the providers
/// actually registered (CPU is implied after them).
pub fn configure(
    mut builder: SessionBuilder,
    threads: usize,
    spin_threads: bool,
    optimization: GraphOptimization,
    providers: &[String],
    model: &std::path::Path,
) -> Result<(SessionBuilder, Vec<String>), ort::Error> {
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads)
            .map_err(ort::Error::<()>::from)?;
    }
    if !spin_threads {
        builder = builder
            .with_intra_op_spinning(false)
            .map_err(ort::Error::<()>::from)?;
    }
    builder = builder
        .with_optimization_level(optimization.level())
        .map_err(ort::Error::<()>::from)?;
    if std::env::var_os("SKYLARK_LLM_ARENA").is_none() {
        builder = without_arena(builder)?;
    }
    let available = available_providers();
    let mut used = Vec::new();
    for name in providers {
        let key = name.trim().to_ascii_lowercase();
        if key == "cpu" {
            // CPU is always there; providers after it would never be used.
            break;
        }
        let Some((_, ort_name, append_name)) = BY_NAME.iter().find(|(k, _, _)| *k == key) else {
            tracing::warn!(
                provider = %name, model = %model.display(), available = ?available,
                "execution provider not supported by this build of skylark; using the next one (CPU at the latest)"
            );
            continue;
        };
        if !available.iter().any(|a| a == ort_name) {
            tracing::warn!(
                provider = %name, model = %model.display(), available = ?available,
                "execution provider is not in this ONNX Runtime library; using the next one (CPU at the latest)"
            );
            continue;
        }
        match append(&mut builder, append_name) {
            Ok(()) => {
                tracing::info!(provider = %name, model = %model.display(), "execution provider registered");
                used.push(key);
            }
            Err(e) => tracing::warn!(
                provider = %name, model = %model.display(),
                "execution provider failed to register ({e}); using the next one (CPU at the latest)"
            ),
        }
    }
    Ok((builder, used))
}

/// No CPU memory arena and no memory pattern: ONNX Runtime's arena grows to the largest
/// request it has served and never gives memory back, and the memory pattern plans buffers
/// by the largest shapes seen. Without them a turn's buffers go back to the allocator when it
/// ends.
fn without_arena(builder: SessionBuilder) -> Result<SessionBuilder, ort::Error> {
    let mut builder = builder
        .with_memory_pattern(false)
        .map_err(ort::Error::<()>::from)?;
    let api = ort::api();
    // SAFETY: a valid session-options pointer owned by `builder`.
    let status = unsafe { (api.DisableCpuMemArena)(builder.ptr_mut()) };
    if !status.0.is_null() {
        // SAFETY: the status is non-null and owned by us.
        let msg = unsafe { CStr::from_ptr((api.GetErrorMessage)(status.0)) }
            .to_string_lossy()
            .into_owned();
        unsafe { (api.ReleaseStatus)(status.0) };
        tracing::warn!("cannot turn ONNX Runtime's memory arena off ({msg}); memory may not return after a long request");
    }
    Ok(builder)
}

fn append(builder: &mut SessionBuilder, name: &str) -> Result<(), String> {
    let api = ort::api();
    let cname = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: valid options pointer, NUL-terminated name, zero option pairs.
    let status = unsafe {
        (api.SessionOptionsAppendExecutionProvider)(
            builder.ptr_mut(),
            cname.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            0,
        )
    };
    if status.0.is_null() {
        return Ok(());
    }
    // SAFETY: the status is non-null and owned by us.
    let msg = unsafe { CStr::from_ptr((api.GetErrorMessage)(status.0)) }
        .to_string_lossy()
        .into_owned();
    unsafe { (api.ReleaseStatus)(status.0) };
    Err(msg)
}

#[cfg(test)]
mod tests {
    use super::GraphOptimization;

    #[test]
    fn optimisation_levels_parse() {
        assert_eq!(
            GraphOptimization::parse("ALL"),
            Some(GraphOptimization::All)
        );
        assert_eq!(
            GraphOptimization::parse("disable"),
            Some(GraphOptimization::Disable)
        );
        assert_eq!(GraphOptimization::parse("fast"), None);
    }
}
