//! The built-in cockpit / phone catalog, embedded in the binary from `models/intents/`.

use super::error::Result;
use super::grammar::Grammar;

/// `(name, YAML)` of every built-in grammar file; `tests/nlu_catalog.rs` checks that this
/// list and the folder agree.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
];

impl Grammar {
    /// The built-in catalog in English and Mandarin.
    pub fn builtin() -> Result<Grammar> {
        let mut g = Grammar::new();
        for (name, text) in BUILTIN_FILES {
            g.add_source(&format!("builtin:{name}"), text)?;
        }
        Ok(g)
    }
}
