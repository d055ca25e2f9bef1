//! skylark: an on-device voice assistant engine.
//!
//! See `ARCHITECTURE.md` for the code map. Adapters (CLI, D-Bus, JNI) use the plain Rust API
//! exposed here; only `dbus` knows zbus and only the `android/` crate knows JNI.

pub mod alloc;
pub mod asr;
pub mod assistant;
pub mod audio;
pub mod config;
pub mod dbus;
pub mod doctor;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod listen;
pub mod llm;
pub mod logging;
pub mod models;
pub mod nlu;
pub mod onnx;
pub mod semantic;
pub mod speech;
pub mod systemd;
pub mod tts;
