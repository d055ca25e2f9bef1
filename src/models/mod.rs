//! Where models live, what they are (the manifest), and how they arrive and are checked.

mod paths;

pub use paths::{default_models_dir, ONNXRUNTIME_LIB};
