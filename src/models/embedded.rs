//! Files from the repository's `models/` folder built into the binary, so an installed
//! `skylark` can fetch, convert and license its models without a source checkout.

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/", $path)))),*]
    };
}

pub const MANIFEST: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.toml"));

/// `(path under models/, contents)`.
pub const FILES: &[(&str, &str)] = embed![
    "requirements.txt",
    "convert/whisper_ct2_to_ggml.py",
    "convert/smollm2_gguf_to_onnx.py",
    "convert/e5_q4_to_onnx.py",
    "licences/Apache-2.0.txt",
    "licences/CC0-piper-joe.txt",
    "licences/kokoro-zh.txt",
    "licences/MIT-multilingual-e5-small.txt",
    "licences/MIT-onnxruntime.txt",
    "licences/MIT-openai-whisper.txt",
    "licences/MIT-silero-vad.txt",
];

pub fn file(path: &str) -> Option<&'static str> {
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
}
