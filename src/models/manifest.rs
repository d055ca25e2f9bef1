//! The model manifest (`models/manifest.toml`, embedded in the binary): one entry per model
//! with its files, their sizes and sha256, its licence, the hub source real users use and the
//! registry recipe used where only package registries are reachable.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::Deserialize;

use super::embedded;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("model manifest {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("model manifest {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// A package from a registry that a model is built from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub registry: Registry,
    /// The package's name in its registry.
    pub name: String,
    pub version: String,
    /// The exact file to download (a wheel, sdist, `.crate` or npm `.tgz`).
    pub file: String,
    /// sha256 of that file, checked before it is unpacked.
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Pypi,
    Crates,
    Npm,
}

impl std::fmt::Display for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Registry::Pypi => "PyPI",
            Registry::Crates => "crates.io",
            Registry::Npm => "npm",
        })
    }
}

/// One installed file of a model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Path relative to the models directory.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// For `extract` recipes: the file's path inside the unpacked package (of the model's
    /// first package unless `package` says which).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub package: Option<String>,
    /// For `extract` recipes of a file split across packages: the pieces, joined in order
    /// (instead of `from`).
    #[serde(default)]
    pub parts: Vec<Part>,
    /// A direct download of the same bytes from the model's hub, tried first.
    #[serde(default)]
    pub hub_url: Option<String>,
}

/// One piece of a file split across packages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Key of `[packages]` (one the model lists).
    pub package: String,
    /// Path inside the unpacked package.
    pub from: String,
}

/// A converter from `models/convert/`, run with the model's packages as inputs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Convert {
    /// Script file name in `models/convert/`.
    pub script: String,
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub id: String,
    pub role: String,
    pub description: String,
    pub licence: String,
    /// Licence text (path under `models/`), installed beside the model.
    pub licence_file: String,
    /// Where users with the internet get this model.
    pub hub: String,
    /// Keys of `[packages]` this model is built from.
    pub packages: Vec<String>,
    #[serde(default)]
    pub convert: Option<Convert>,
    pub files: Vec<ModelFile>,
    /// Files (relative to the models dir) an earlier manifest installed for this model and this
    /// one no longer uses (e.g. the f16 whisper file its q8_0 form replaced): `models fetch`
    /// removes them once the model is installed, so an upgrade does not keep both.
    #[serde(default)]
    pub replaces: Vec<String>,
}

impl Model {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The folder (relative to the models dir) that holds the model's first file; its licence
    /// is installed there as `<id>.LICENSE.txt`.
    pub fn folder(&self) -> &str {
        self.files
            .first()
            .and_then(|f| Path::new(&f.path).parent())
            .and_then(|p| p.to_str())
            .unwrap_or("")
    }

    pub fn licence_install_path(&self) -> String {
        let folder = self.folder();
        if folder.is_empty() {
            format!("{}.LICENSE.txt", self.id)
        } else {
            format!("{folder}/{}.LICENSE.txt", self.id)
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub packages: BTreeMap<String, Package>,
    pub models: Vec<Model>,
}

impl Manifest {
    /// The manifest built into this binary.
    pub fn builtin() -> Result<Manifest, ManifestError> {
        Self::parse(embedded::MANIFEST, "models/manifest.toml (built in)")
    }

    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        manifest.validate(origin)?;
        Ok(manifest)
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The main file of model `id` (its first file: the model proper, before configs and
    /// tokenizers) inside `models_dir`.
    pub fn primary_path(
        &self,
        models_dir: &Path,
        id: &str,
    ) -> Result<std::path::PathBuf, ManifestError> {
        let model = self.model(id).ok_or_else(|| ManifestError::Invalid {
            origin: "the configuration".into(),
            message: format!(
                "no model `{id}` in the manifest; known models: {}",
                self.models
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        // validated: every model has at least one file
        Ok(models_dir.join(&model.files[0].path))
    }

    fn validate(&self, origin: &str) -> Result<(), ManifestError> {
        let invalid = |message: String| ManifestError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut seen = std::collections::BTreeSet::new();
        for model in &self.models {
            if !seen.insert(model.id.as_str()) {
                return Err(invalid(format!("model id `{}` appears twice", model.id)));
            }
            if model.files.is_empty() {
                return Err(invalid(format!("model `{}` has no files", model.id)));
            }
            if embedded::file(&model.licence_file).is_none() {
                return Err(invalid(format!(
                    "model `{}`: licence file `{}` is not built in",
                    model.id, model.licence_file
                )));
            }
            for key in &model.packages {
                if !self.packages.contains_key(key) {
                    return Err(invalid(format!(
                        "model `{}` names unknown package `{key}`",
                        model.id
                    )));
                }
            }
            if let Some(convert) = &model.convert {
                if embedded::file(&format!("convert/{}", convert.script)).is_none() {
                    return Err(invalid(format!(
                        "model `{}`: converter `{}` is not built in",
                        model.id, convert.script
                    )));
                }
            }
            for file in &model.files {
                if !is_safe_relative(&file.path) {
                    return Err(invalid(format!(
                        "model `{}`: unsafe path `{}`",
                        model.id, file.path
                    )));
                }
                if file.sha256.len() != 64 || !file.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid(format!(
                        "model `{}`: `{}` has no valid sha256",
                        model.id, file.path
                    )));
                }
                if model.convert.is_none() && file.from.is_none() && file.parts.is_empty() {
                    return Err(invalid(format!(
                        "model `{}`: `{}` needs `from` or `parts` (or the model a `convert` recipe)",
                        model.id, file.path
                    )));
                }
                if file.from.is_some() && !file.parts.is_empty() {
                    return Err(invalid(format!(
                        "model `{}`: `{}` has both `from` and `parts`",
                        model.id, file.path
                    )));
                }
                let packages = file
                    .package
                    .iter()
                    .chain(file.parts.iter().map(|p| &p.package));
                for p in packages {
                    if !model.packages.contains(p) {
                        return Err(invalid(format!(
                            "model `{}`: `{}` comes from `{p}`, which the model does not list",
                            model.id, file.path
                        )));
                    }
                }
            }
        }
        let current: std::collections::BTreeSet<&str> = self
            .models
            .iter()
            .flat_map(|m| m.files.iter().map(|f| f.path.as_str()))
            .collect();
        for model in &self.models {
            for old in &model.replaces {
                if !is_safe_relative(old) {
                    return Err(invalid(format!(
                        "model `{}`: unsafe replaced path `{old}`",
                        model.id
                    )));
                }
                if current.contains(old.as_str()) {
                    return Err(invalid(format!(
                        "model `{}` replaces `{old}`, which a model still uses",
                        model.id
                    )));
                }
            }
        }
        for (key, package) in &self.packages {
            if package.sha256.len() != 64 {
                return Err(invalid(format!("package `{key}` has no valid sha256")));
            }
            if !is_safe_relative(key) || key.contains('/') {
                return Err(invalid(format!(
                    "package key `{key}` must be a plain folder name"
                )));
            }
        }
        Ok(())
    }
}

/// A relative path that stays inside the folder it is joined to.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_is_valid() {
        let m = Manifest::builtin().expect("built-in manifest parses");
        assert!(m.model("onnxruntime").is_some());
        for model in &m.models {
            assert!(model.total_size() > 0, "{}", model.id);
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let text = r#"
packages = {}
[[models]]
id = "x"
role = "vad"
description = "d"
licence = "MIT"
licence_file = "licences/MIT-silero-vad.txt"
hub = "h"
packages = []
files = []
colour = "blue"
"#;
        let err = Manifest::parse(text, "test.toml").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        assert!(err.contains("test.toml"), "{err}");
    }

    #[test]
    fn a_file_may_be_joined_from_parts_of_listed_packages() {
        let m = Manifest::builtin().expect("built-in manifest parses");
        let kokoro = m.model("kokoro-zh").expect("kokoro-zh");
        assert_eq!(kokoro.files[0].parts.len(), 4);
        assert_eq!(m.packages["kokoro_js"].registry, Registry::Npm);
        let text = |parts: &str, from: &str| {
            format!(
                r#"
[packages.a]
registry = "npm"
name = "a"
version = "1.0.0"
file = "a-1.0.0.tgz"
sha256 = "{h}"
[[models]]
id = "x"
role = "tts"
description = "d"
licence = "MIT"
licence_file = "licences/MIT-silero-vad.txt"
hub = "h"
packages = ["a"]
files = [{{ path = "x/y.bin", size = 1, sha256 = "{h}", {from}parts = [{parts}] }}]
"#,
                h = "0".repeat(64)
            )
        };
        let ok = r#"{ package = "a", from = "p1" }, { package = "a", from = "p2" }"#;
        assert!(Manifest::parse(&text(ok, ""), "t").is_ok());
        let err = Manifest::parse(&text(r#"{ package = "b", from = "p" }"#, ""), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`b`"), "{err}");
        let err = Manifest::parse(&text(ok, r#"from = "z", "#), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("both `from` and `parts`"), "{err}");
    }

    #[test]
    fn paths_must_stay_inside() {
        assert!(is_safe_relative("vad/silero_vad.onnx"));
        assert!(!is_safe_relative("../etc/passwd"));
        assert!(!is_safe_relative("/etc/passwd"));
        assert!(!is_safe_relative(""));
    }
}
