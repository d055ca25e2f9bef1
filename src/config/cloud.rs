//! The `[cloud]` section: the OpenAI-compatible chat-completions server the router escalates
//! to in `hybrid` and `cloud` routing modes, its budgets, breaker, prices and privacy list.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Intents whose sentences never leave the device, whatever the mode (calls, messages and
/// contacts); `cloud.private_intents` adds to them. A trailing `.*` names a family.
pub const ALWAYS_PRIVATE: &[&str] = &["phone.*", "message.*", "contact.*"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CloudConfig {
    /// The `RoutingMode` at start: `local` (nothing leaves the device), `hybrid` (the cloud
    /// answers what the device cannot) or `cloud` (the cloud right after the grammar, the
    /// device as the fallback). Clients change it with the `RoutingMode` property.
    pub routing: String,
    /// Base URL of the OpenAI-compatible API, up to and including `/v1`
    /// (`https://api.example.com/v1`, `http://127.0.0.1:8080/v1`). Empty: no cloud tier; the
    /// `hybrid` and `cloud` routing modes then stay on the device.
    pub url: String,
    /// The `model` field of each request.
    pub model: String,
    /// Name of an environment variable holding the API key (`SKYLARK_CLOUD_KEY`).
    pub api_key_env: String,
    /// A file holding the API key (first line); used when `api_key_env` is empty or unset.
    pub api_key_file: String,
    /// Connecting (TCP + TLS) may take this long, in milliseconds.
    pub connect_timeout_ms: u64,
    /// The per-turn latency budget: with no first token (or tool call) from the cloud by
    /// then, the device's answer (or an honest "can't answer") stands. Milliseconds.
    pub first_token_ms: u64,
    /// A whole cloud answer may take this long, in milliseconds.
    pub answer_timeout_ms: u64,
    /// Most cloud requests in flight at once; past it a turn stays on the device.
    pub max_in_flight: usize,
    /// `max_tokens` of each request.
    pub max_tokens: usize,
    /// After this many failures in a row the breaker opens: turns stay on the device...
    pub breaker_failures: u32,
    /// ...for this long (milliseconds); then one request tries the cloud again.
    pub breaker_cooldown_ms: u64,
    /// Price of 1,000 input (prompt) tokens, in the currency of your bill.
    pub price_input_per_1k: f64,
    /// Price of 1,000 output (completion) tokens.
    pub price_output_per_1k: f64,
    /// More intents (or `family.*`) that never leave the device, on top of phone.*,
    /// message.* and contact.*.
    pub private_intents: Vec<String>,
    /// Send sentences that contain a contact name (a value of the `contact` list, `SetList`).
    /// Off: such a sentence stays on the device.
    pub send_contact_names: bool,
    /// Offer the intent catalog (minus the private intents) as tools, so the cloud can name
    /// an intent and its slots as the device would.
    pub tools: bool,
    /// System prompt of cloud answers.
    pub system_prompt: String,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            routing: "local".into(),
            url: String::new(),
            model: "default".into(),
            api_key_env: String::new(),
            api_key_file: String::new(),
            connect_timeout_ms: 2000,
            first_token_ms: 2500,
            answer_timeout_ms: 20_000,
            max_in_flight: 4,
            max_tokens: 160,
            breaker_failures: 3,
            breaker_cooldown_ms: 30_000,
            price_input_per_1k: 0.0,
            price_output_per_1k: 0.0,
            private_intents: Vec::new(),
            send_contact_names: false,
            tools: true,
            system_prompt: "You are the voice assistant of a car. Answer in one or two short \
                            spoken sentences, in the language of the question. When the \
                            request is a command one of the tools performs, call that tool."
                .into(),
        }
    }
}

impl CloudConfig {
    /// Whether a cloud tier is configured at all.
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }

    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &'static str, value: String, why: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            value,
            why: why.to_string(),
        };
        if !matches!(self.routing.as_str(), "local" | "hybrid" | "cloud") {
            return Err(bad(
                "cloud.routing",
                self.routing.clone(),
                "expected local, hybrid or cloud",
            ));
        }
        let url = self.url.trim();
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad(
                "cloud.url",
                self.url.clone(),
                "expected an http:// or https:// URL such as https://api.example.com/v1",
            ));
        }
        if self.enabled() && self.model.trim().is_empty() {
            return Err(bad("cloud.model", String::new(), "expected a model name"));
        }
        for (key, value, min, max) in [
            (
                "cloud.connect_timeout_ms",
                self.connect_timeout_ms,
                1,
                60_000,
            ),
            ("cloud.first_token_ms", self.first_token_ms, 1, 120_000),
            (
                "cloud.answer_timeout_ms",
                self.answer_timeout_ms,
                1,
                600_000,
            ),
            (
                "cloud.breaker_cooldown_ms",
                self.breaker_cooldown_ms,
                0,
                86_400_000,
            ),
            ("cloud.max_in_flight", self.max_in_flight as u64, 1, 1024),
            ("cloud.max_tokens", self.max_tokens as u64, 1, 32_768),
            (
                "cloud.breaker_failures",
                self.breaker_failures as u64,
                1,
                1000,
            ),
        ] {
            if !(min..=max).contains(&value) {
                return Err(bad(
                    key,
                    value.to_string(),
                    &format!("expected {min} to {max}"),
                ));
            }
        }
        for (key, price) in [
            ("cloud.price_input_per_1k", self.price_input_per_1k),
            ("cloud.price_output_per_1k", self.price_output_per_1k),
        ] {
            if !(price.is_finite() && price >= 0.0) {
                return Err(bad(key, price.to_string(), "expected a price of 0 or more"));
            }
        }
        if let Some(p) = self
            .private_intents
            .iter()
            .find(|p| p.trim().is_empty() || p.contains(char::is_whitespace))
        {
            return Err(bad(
                "cloud.private_intents",
                p.clone(),
                "expected intent names such as navigation.navigate_to or families such as navigation.*",
            ));
        }
        Ok(())
    }

    /// Whether `intent` must stay on the device (the built-in list and `private_intents`).
    pub fn is_private(&self, intent: &str) -> bool {
        ALWAYS_PRIVATE
            .iter()
            .copied()
            .chain(self.private_intents.iter().map(String::as_str))
            .any(|p| match p.strip_suffix(".*") {
                Some(family) => intent
                    .strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => p == intent,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_messages_and_contacts_are_private_and_the_list_extends_them() {
        let mut c = CloudConfig::default();
        for i in ["phone.call", "phone.hang_up", "message.send", "contact.add"] {
            assert!(c.is_private(i), "{i}");
        }
        assert!(!c.is_private("info.weather"));
        assert!(!c.is_private("phonebook.open"));
        c.private_intents = vec!["navigation.*".into(), "info.weather".into()];
        assert!(c.is_private("navigation.navigate_to"));
        assert!(c.is_private("info.weather"));
        assert!(!c.is_private("info.time"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let p = Path::new("/etc/skylark/config.toml");
        let c = CloudConfig {
            url: "ftp://x".into(),
            ..CloudConfig::default()
        };
        assert!(c.validate(p).unwrap_err().to_string().contains("cloud.url"));
        let c = CloudConfig {
            breaker_failures: 0,
            ..CloudConfig::default()
        };
        let e = c.validate(p).unwrap_err().to_string();
        assert!(e.contains("cloud.breaker_failures"), "{e}");
        let c = CloudConfig {
            price_output_per_1k: -1.0,
            ..CloudConfig::default()
        };
        let e = c.validate(p).unwrap_err().to_string();
        assert!(e.contains("cloud.price_output_per_1k"), "{e}");
    }
}
