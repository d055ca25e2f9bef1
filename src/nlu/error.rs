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
    #[error("{location}: malformed YAML: {}", excerpt(.message))]
    Yaml { location: Location, message: String },
    #[error("{location}: {} (see the hassil file format: language, intents, lists, expansion_rules)", excerpt(.message))]
    Schema { location: Location, message: String },
    #[error("{location}: template syntax error: {} in {:?}", excerpt(.message), excerpt(.template))]
    Template {
        location: Location,
        template: String,
        message: String,
    },
    #[error("{location}: unknown expansion rule <{}>: define it under expansion_rules", excerpt(.rule))]
    UnknownRule { location: Location, rule: String },
    #[error("{location}: expansion rule <{}> refers to itself", excerpt(.rule))]
    RecursiveRule { location: Location, rule: String },
    #[error("invalid language tag {:?}: use a BCP-47 tag such as en or zh-CN", excerpt(.0))]
    Language(String),
    #[error("no intent grammar for language {0}: load a grammar file with `language: {0}`")]
    NoGrammar(String),
}

/// Longest piece of grammar text an error message quotes, in characters.
pub const MAX_QUOTED_CHARS: usize = 160;

/// `text` as an error quotes it: at most [`MAX_QUOTED_CHARS`] characters, then how much was
/// left out — a 50 MB template must not become a 50 MB message.
pub fn excerpt(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!(
            "{}… ({} more bytes)",
            &text[..cut],
            text.len() - cut
        )),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quote_at_most_an_excerpt_of_the_grammar() {
        let huge = "a".repeat(1 << 20);
        let e = NluError::Template {
            location: Location {
                file: "f.yaml".into(),
                line: 1,
                column: 1,
            },
            template: huge.clone(),
            message: huge,
        };
        let text = e.to_string();
        assert!(text.len() < 1000, "{} bytes", text.len());
        assert!(text.contains("more bytes"), "{text}");
        assert_eq!(excerpt("short"), "short");
    }
}
