//! ARCHITECTURE.md's boundaries, checked where a grep can: only `src/dbus` names zbus, only the
//! command line (`src/main.rs`, `src/cli`) names clap, only `android/` names JNI, and the CLI
//! and the binding build their engine through `skylark::assistant::build`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files under `dir` (relative to the crate) whose code — comments left out — contains `word`
/// as a whole word, except those under one of `allowed`.
fn naming(dir: &str, word: &str, allowed: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join(dir), &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        if allowed.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let uses = text.lines().any(|line| {
            let code = line.split("//").next().unwrap_or("");
            code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|token| token == word)
        });
        if uses {
            found.push(rel);
        }
    }
    found
}

#[test]
fn only_the_dbus_module_names_zbus() {
    let found = naming("src", "zbus", &["src/dbus/"]);
    assert!(found.is_empty(), "zbus outside src/dbus: {found:?}");
    let found = naming("android/src", "zbus", &[]);
    assert!(found.is_empty(), "zbus in the Android binding: {found:?}");
}

#[test]
fn only_the_command_line_names_clap() {
    let found = naming("src", "clap", &["src/main.rs", "src/cli/"]);
    assert!(found.is_empty(), "clap outside the command line: {found:?}");
}

#[test]
fn only_the_android_crate_names_jni() {
    let found = naming("src", "jni", &[]);
    assert!(found.is_empty(), "JNI in the library: {found:?}");
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .unwrap_or_default();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or("");
    assert!(
        !deps.lines().any(|l| l.trim_start().starts_with("jni ")),
        "the library depends on jni"
    );
}

#[test]
fn engines_are_built_in_one_place() {
    // `Engine::new` assembles an engine from parts; adapters use `assistant::build` instead.
    // (`recognize` builds a text-only engine over the grammar files given on its command line.)
    let mut found = naming("src/cli", "new", &[]);
    found.retain(|f| {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f))
            .unwrap_or_default();
        text.contains("Engine::new") && !f.ends_with("recognize.rs")
    });
    assert!(
        found.is_empty(),
        "Engine::new in {found:?}: use skylark::assistant::build"
    );
    let mut binding = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("android/src"),
        &mut binding,
    );
    for f in binding {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !text.contains("Engine::new"),
            "{} builds its own engine",
            f.display()
        );
    }
}
