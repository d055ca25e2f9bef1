//! Models: where they live, what they are (the manifest), how they arrive and are checked.
//! This module knows files and registries; it does not know how a model is run.

mod embedded;
pub mod fetch;
pub mod manifest;
mod paths;
pub mod store;

pub use fetch::{FetchError, FetchOptions, Fetcher, Outcome};
pub use manifest::{Manifest, ManifestError, Model, ModelFile};
pub(crate) use paths::home_dir;
pub use paths::{default_cache_dir, default_models_dir, ONNXRUNTIME_LIB};
pub use store::{Check, FileProblem, Store};
