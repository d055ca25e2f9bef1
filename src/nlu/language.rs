//! BCP-47 language tags as skylark uses them: case-insensitive, with every way of writing
//! Simplified Mandarin (`zh`, `zh-Hans`, `zh-CN`) folded to one grammar language.

use super::error::NluError;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Language {
    /// Lower-case canonical tag: `en`, `zh-cn`, `de`, `en-us`.
    tag: String,
}

impl Language {
    pub fn parse(text: &str) -> Result<Language, NluError> {
        let lower = text.trim().replace('_', "-").to_ascii_lowercase();
        let valid = !lower.is_empty()
            && lower.split('-').all(|s| {
                !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            && lower.split('-').next().is_some_and(|p| {
                (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic())
            });
        if !valid {
            return Err(NluError::Language(text.to_string()));
        }
        let tag = match lower.as_str() {
            "zh" | "zh-hans" | "zh-cn" | "zh-hans-cn" | "zh-sg" | "zh-hans-sg" | "cmn"
            | "cmn-hans" | "cmn-cn" => "zh-cn".to_string(),
            "zh-hant" | "zh-tw" | "zh-hant-tw" => "zh-tw".to_string(),
            "zh-hk" | "zh-hant-hk" => "zh-hk".to_string(),
            _ => lower,
        };
        Ok(Language { tag })
    }

    pub fn english() -> Language {
        Language { tag: "en".into() }
    }

    pub fn mandarin() -> Language {
        Language {
            tag: "zh-cn".into(),
        }
    }

    /// The lower-case canonical tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The primary subtag: `en`, `zh`.
    pub fn primary(&self) -> &str {
        self.tag.split('-').next().unwrap_or(&self.tag)
    }
}

impl FromStr for Language {
    type Err = NluError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Language::parse(s)
    }
}

impl fmt::Display for Language {
    /// Conventional casing: `en`, `zh-CN`, `en-US`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.tag.split('-').enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            if i > 0 && part.len() == 2 {
                f.write_str(&part.to_ascii_uppercase())?;
            } else {
                f.write_str(part)?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Language {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_fold_case_and_simplified_chinese() {
        for t in ["zh", "zh-CN", "zh-cn", "ZH-Hans", "zh_CN", "zh-Hans-CN"] {
            assert_eq!(Language::parse(t).unwrap(), Language::mandarin(), "{t}");
        }
        assert_eq!(Language::parse("EN").unwrap(), Language::english());
        assert_eq!(Language::parse("en-us").unwrap().to_string(), "en-US");
        assert_eq!(Language::mandarin().to_string(), "zh-CN");
        assert_eq!(Language::parse("en-US").unwrap().primary(), "en");
        for bad in ["", "-", "e", "english!", "zh--cn", "12"] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }
}
