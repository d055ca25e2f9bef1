//! The built-in cockpit / phone catalog, embedded in the binary from `models/intents/`.

use super::error::Result;
use super::grammar::Grammar;

/// `(name, YAML)` of every built-in grammar file; `tests/nlu_catalog.rs` checks that this
/// list and the folder agree.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "en/_common.yaml",
        include_str!("../../models/intents/en/_common.yaml"),
    ),
    (
        "en/cabin.yaml",
        include_str!("../../models/intents/en/cabin.yaml"),
    ),
    (
        "en/climate.yaml",
        include_str!("../../models/intents/en/climate.yaml"),
    ),
    (
        "en/info.yaml",
        include_str!("../../models/intents/en/info.yaml"),
    ),
    (
        "en/media.yaml",
        include_str!("../../models/intents/en/media.yaml"),
    ),
    (
        "en/navigation.yaml",
        include_str!("../../models/intents/en/navigation.yaml"),
    ),
    (
        "en/phone.yaml",
        include_str!("../../models/intents/en/phone.yaml"),
    ),
    (
        "en/plans.yaml",
        include_str!("../../models/intents/en/plans.yaml"),
    ),
    (
        "zh-CN/_common.yaml",
        include_str!("../../models/intents/zh-CN/_common.yaml"),
    ),
    (
        "zh-CN/cabin.yaml",
        include_str!("../../models/intents/zh-CN/cabin.yaml"),
    ),
    (
        "zh-CN/climate.yaml",
        include_str!("../../models/intents/zh-CN/climate.yaml"),
    ),
    (
        "zh-CN/info.yaml",
        include_str!("../../models/intents/zh-CN/info.yaml"),
    ),
    (
        "zh-CN/media.yaml",
        include_str!("../../models/intents/zh-CN/media.yaml"),
    ),
    (
        "zh-CN/navigation.yaml",
        include_str!("../../models/intents/zh-CN/navigation.yaml"),
    ),
    (
        "zh-CN/phone.yaml",
        include_str!("../../models/intents/zh-CN/phone.yaml"),
    ),
    (
        "zh-CN/plans.yaml",
        include_str!("../../models/intents/zh-CN/plans.yaml"),
    ),
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
