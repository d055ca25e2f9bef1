//! The optimised-model cache (`onnx::commit_cached`, #17) on a real model (the semantic tier's
//! multilingual-e5-small, `skylark models fetch multilingual-e5-small`): the first load writes
//! the optimised graph with its prepacked weights into `$XDG_CACHE_HOME/skylark/onnx/`, the next
//! load reads it and embeds bit-for-bit what the model file gave, and a damaged copy (its
//! weights file cut short) is refused, removed and written again, the model still loading.
//!
//! One test in its own binary: it points `XDG_CACHE_HOME` at a temporary folder for the whole
//! process.

use std::path::{Path, PathBuf};

use skylark::semantic::{Embedder, EmbedderOptions};

const MODEL: &str = "multilingual-e5-small";

fn load(models: &Path) -> Embedder {
    let opts = EmbedderOptions {
        threads: 1,
        models_dir: models.to_path_buf(),
    };
    Embedder::load(&models.join("embedding").join(MODEL), MODEL, &opts).expect("embedder")
}

/// The one cached copy's weights file.
fn cached_weights(cache: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(cache.join("skylark/onnx"))
        .expect("skylark/onnx/ written")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "one optimised copy: {dirs:?}");
    dirs[0].join("model.data")
}

#[test]
fn the_cached_optimised_model_embeds_exactly_as_the_model_and_a_damaged_copy_is_replaced() {
    let models = skylark::models::default_models_dir();
    assert!(
        models
            .join("embedding")
            .join(MODEL)
            .join("model.onnx")
            .is_file(),
        "{MODEL} is missing: run `skylark models fetch {MODEL}`"
    );
    let cache = tempfile::tempdir().expect("temp dir");
    // The only test of this binary: no other thread reads the environment meanwhile.
    std::env::set_var("XDG_CACHE_HOME", cache.path());
    skylark::onnx::init(&models).expect("ONNX Runtime");
    let texts = [
        "turn on the air conditioning",
        "my butt is cold, heat my seat",
        "我想找一家附近的火锅店",
    ];

    // First load: from the model file, writing the optimised copy.
    let first = load(&models).embed(&texts).expect("embed");
    let weights = cached_weights(cache.path());
    let size = std::fs::metadata(&weights).expect("weights file").len();
    assert!(size > 1 << 20, "{size} bytes of weights");

    // Second load: from the copy; the same vectors, bit for bit.
    let second = load(&models).embed(&texts).expect("embed");
    assert_eq!(
        first, second,
        "the cached optimised model embeds differently"
    );

    // The copy's weights cut short: refused, removed, written again; the same vectors.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&weights)
        .expect("open the weights");
    file.set_len(size / 2).expect("truncate");
    drop(file);
    let third = load(&models).embed(&texts).expect("embed");
    assert_eq!(first, third, "after a damaged copy");
    let weights = cached_weights(cache.path());
    assert_eq!(
        std::fs::metadata(&weights).expect("weights file").len(),
        size,
        "the damaged copy was written again"
    );
}
