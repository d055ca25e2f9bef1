//! Errors of the understanding module. Each names the grammar file and position it concerns,
//! so a grammar author can jump straight to the mistake.

use std::fmt;
use std::path::PathBuf;

/// Where in a grammar file something was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NluError {
    #[error("cannot read intent grammar {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: malformed YAML: {message}")]
    Yaml { location: Location, message: String },
    #[error("{location}: {message} (see the hassil file format: language, intents, lists, expansion_rules)")]
    Schema { location: Location, message: String },
    #[error("{location}: template syntax error: {message} in {template:?}")]
    Template {
        location: Location,
        template: String,
        message: String,
    },
    #[error("{location}: unknown expansion rule <{rule}>: define it under expansion_rules")]
    UnknownRule { location: Location, rule: String },
    #[error("{location}: expansion rule <{rule}> refers to itself")]
    RecursiveRule { location: Location, rule: String },
    #[error("invalid language tag {0:?}: use a BCP-47 tag such as en or zh-CN")]
    Language(String),
    #[error("no intent grammar for language {0}: load a grammar file with `language: {0}`")]
    NoGrammar(String),
}

impl NluError {
    /// The file position the error concerns, when it has one.
    pub fn location(&self) -> Option<&Location> {
        match self {
            NluError::Yaml { location, .. }
            | NluError::Schema { location, .. }
            | NluError::Template { location, .. }
            | NluError::UnknownRule { location, .. }
            | NluError::RecursiveRule { location, .. } => Some(location),
            _ => None,
        }
    }
}

pub type Result<T, E = NluError> = std::result::Result<T, E>;
