//! The models directory: which manifest files are present and intact.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{Model, ModelFile};

/// What is wrong with one file of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    Missing,
    WrongSize { found: u64 },
    WrongHash { found: String },
    Unreadable(String),
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileProblem::Missing => write!(f, "missing"),
            FileProblem::WrongSize { found } => write!(f, "wrong size ({found} bytes)"),
            FileProblem::WrongHash { found } => write!(f, "corrupt (sha256 {found})"),
            FileProblem::Unreadable(e) => write!(f, "unreadable ({e})"),
        }
    }
}

/// How thoroughly to check a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Existence and size: instant, for `list` and `doctor`.
    Size,
    /// Size and sha256: for `verify` and after every download.
    Hash,
}

#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    pub fn path(&self, file: &ModelFile) -> PathBuf {
        self.dir.join(&file.path)
    }

    pub fn check_file(&self, file: &ModelFile, check: Check) -> Result<(), FileProblem> {
        check_file_at(&self.path(file), file, check)
    }

    /// Every problem of a model's files (empty when the model is installed and intact).
    pub fn check_model<'m>(
        &self,
        model: &'m Model,
        check: Check,
    ) -> Vec<(&'m ModelFile, FileProblem)> {
        model
            .files
            .iter()
            .filter_map(|f| self.check_file(f, check).err().map(|p| (f, p)))
            .collect()
    }
}

pub(crate) fn check_file_at(
    path: &Path,
    file: &ModelFile,
    check: Check,
) -> Result<(), FileProblem> {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Err(FileProblem::Unreadable("not a regular file".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(FileProblem::Missing),
        Err(e) => return Err(FileProblem::Unreadable(e.to_string())),
    };
    if meta.len() != file.size {
        return Err(FileProblem::WrongSize { found: meta.len() });
    }
    if check == Check::Hash {
        let found = sha256_file(path).map_err(|e| FileProblem::Unreadable(e.to_string()))?;
        if !found.eq_ignore_ascii_case(&file.sha256) {
            return Err(FileProblem::WrongHash { found });
        }
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
