//! The engine's errors. Each variant is one of the contract's named errors, so every adapter
//! (D-Bus, CLI, JNI) maps them one to one; the message says what happened and how to fix it.

/// An error of an engine call. The variants are the contract's error names
/// (`io.skylark.Assistant1.Error.<Variant>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The caller passed a value the engine cannot use (too long, unknown language, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// The stage this call needs is not available (model missing, capability not built).
    #[error("{0}")]
    NotReady(String),
    /// A limit is reached (concurrent turns, pending calls); retry later.
    #[error("{0}")]
    Busy(String),
    /// No such turn or handler.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (for example take over another client's intents).
    #[error("{0}")]
    AccessDenied(String),
    /// Something did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// Anything else that went wrong.
    #[error("{0}")]
    Failed(String),
}
