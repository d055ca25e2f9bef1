//! The `skylark` command's model supply, configuration and doctor, run as a user runs them:
//! a separate process on the real models directory (installed by `skylark models fetch`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use skylark::models::{default_models_dir, Manifest};

fn skylark(args: &[&str], models_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skylark"))
        .args(args)
        .env("SKYLARK_MODELS_DIR", models_dir)
        .env_remove("ORT_DYLIB_PATH")
        .env("XDG_CONFIG_HOME", "/nonexistent-skylark-test")
        .output()
        .expect("run skylark")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn real_models_dir() -> PathBuf {
    let dir = default_models_dir();
    let manifest = Manifest::builtin().expect("manifest");
    for m in &manifest.models {
        for f in &m.files {
            assert!(
                dir.join(&f.path).is_file(),
                "model file {} is missing: run `skylark models fetch` (scripts/test.sh does)",
                dir.join(&f.path).display()
            );
        }
    }
    dir
}

#[test]
fn verify_passes_on_the_installed_models() {
    let dir = real_models_dir();
    let out = skylark(&["models", "verify"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("all model files verified"));
}

/// Flip one byte of each model file in turn (in a copy, beside symlinks to the rest) and check
/// that `verify` fails and names exactly that file.
#[test]
fn verify_names_each_corrupted_file() {
    let real = real_models_dir();
    let manifest = Manifest::builtin().expect("manifest");
    for model in &manifest.models {
        for target in &model.files {
            let tmp = tempfile::tempdir().expect("tempdir");
            for f in &model.files {
                let dest = tmp.path().join(&f.path);
                std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
                if f.path == target.path {
                    let mut bytes = std::fs::read(real.join(&f.path)).expect("read model");
                    let i = bytes.len() / 2;
                    bytes[i] ^= 0x01;
                    std::fs::write(&dest, bytes).expect("write copy");
                } else {
                    std::os::unix::fs::symlink(real.join(&f.path), &dest).expect("symlink");
                }
            }
            let out = skylark(&["models", "verify", &model.id], tmp.path());
            let t = text(&out);
            assert_eq!(out.status.code(), Some(1), "{t}");
            let bad: Vec<&str> = t.lines().filter(|l| l.starts_with("BAD")).collect();
            assert_eq!(bad.len(), 1, "{t}");
            assert!(
                bad[0].contains(&tmp.path().join(&target.path).display().to_string()),
                "{t}"
            );
            assert!(
                bad[0].contains("corrupt") && bad[0].contains("skylark models fetch"),
                "{t}"
            );
        }
    }
}

#[test]
fn missing_models_are_named_with_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = skylark(&["models", "verify"], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let onnx = tmp.path().join("onnxruntime/libonnxruntime.so.1.32.0");
    assert!(
        t.contains(&format!("BAD   {}: missing", onnx.display())),
        "{t}"
    );
    assert!(t.contains("fix: skylark models fetch onnxruntime"), "{t}");
}

#[test]
fn doctor_explains_a_missing_onnx_runtime_without_a_backtrace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = skylark(&["doctor"], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let line = t
        .lines()
        .find(|l| l.contains("ONNX Runtime"))
        .expect("an ONNX Runtime line");
    assert!(line.starts_with("FAIL"), "{t}");
    assert!(
        line.contains(
            &tmp.path()
                .join("onnxruntime/libonnxruntime.so.1.32.0")
                .display()
                .to_string()
        ),
        "{t}"
    );
    assert!(t.contains("fix: skylark models fetch"), "{t}");
    assert!(
        !t.contains("panicked") && !t.contains("RUST_BACKTRACE"),
        "{t}"
    );
}

#[test]
fn doctor_explains_a_library_that_is_not_onnx_runtime() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lib = tmp.path().join("onnxruntime/libonnxruntime.so.1.32.0");
    std::fs::create_dir_all(lib.parent().expect("parent")).expect("mkdir");
    std::fs::write(&lib, b"this is not a shared library").expect("write");
    let out = skylark(&["doctor"], tmp.path());
    let t = text(&out);
    let line = t
        .lines()
        .find(|l| l.contains("ONNX Runtime"))
        .expect("an ONNX Runtime line");
    assert!(
        line.starts_with("FAIL") && line.contains("could not be loaded"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn doctor_passes_models_and_runtime_on_the_installed_models() {
    let dir = real_models_dir();
    let out = skylark(&["doctor"], &dir);
    let t = text(&out);
    for line in t
        .lines()
        .filter(|l| l.contains("model ") || l.contains("ONNX Runtime"))
    {
        assert!(line.starts_with("ok"), "{t}");
    }
}

#[test]
fn config_errors_name_the_key_and_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("config.toml");
    std::fs::write(&cfg, "[llm]\ntemperature_typo = 0.3\n").expect("write");
    let out = skylark(
        &["config", "show", "--config", cfg.to_str().expect("utf8")],
        tmp.path(),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("temperature_typo") && t.contains(&cfg.display().to_string()),
        "{t}"
    );

    std::fs::write(&cfg, "[dbus]\nbus = \"system\"\n").expect("write");
    let out = skylark(
        &["config", "show", "--config", cfg.to_str().expect("utf8")],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("bus = \"system\"") && shown.contains("handler_timeout_ms = 3000"),
        "{shown}"
    );
}

#[test]
fn unknown_model_id_is_refused_with_the_known_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = skylark(&["models", "fetch", "whisper-huge"], tmp.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("whisper-huge") && t.contains("onnxruntime"),
        "{t}"
    );
}
