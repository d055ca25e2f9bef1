//! The model's own chat template (Jinja, from `tokenizer_config.json` or `chat_template.jinja`)
//! rendered with minijinja, so the prompt is byte-for-byte what the model was trained on.

use std::path::{Path, PathBuf};

use super::{ChatMessage, LlmError, Result};

/// A compiled chat template plus the special tokens it may refer to.
pub struct ChatTemplate {
    env: minijinja::Environment<'static>,
    source: PathBuf,
    pub bos_token: String,
    pub eos_token: String,
}

impl ChatTemplate {
    /// Read the template of the model in `dir`. HF puts it in `tokenizer_config.json`
    /// (`chat_template`, a string or a list of named templates); newer exports also write
    /// `chat_template.jinja`, which wins when present.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg = if cfg_path.is_file() {
            Some(super::layout::read_json(&cfg_path)?)
        } else {
            None
        };
        let jinja = dir.join("chat_template.jinja");
        let (source, text) = if jinja.is_file() {
            let text = std::fs::read_to_string(&jinja).map_err(|e| LlmError::Template {
                path: jinja.clone(),
                reason: e.to_string(),
            })?;
            (jinja, text)
        } else {
            let Some(cfg) = &cfg else {
                return Err(LlmError::MissingFile {
                    what: "tokenizer config (chat template)",
                    path: cfg_path,
                });
            };
            let text = match &cfg["chat_template"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(list) => list
                    .iter()
                    .find(|t| t["name"] == "default")
                    .and_then(|t| t["template"].as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| LlmError::Config {
                        path: cfg_path.clone(),
                        reason: "no template named `default` in `chat_template`".into(),
                    })?,
                _ => {
                    return Err(LlmError::Config {
                        path: cfg_path.clone(),
                        reason: "no `chat_template`; this model is not a chat model".into(),
                    })
                }
            };
            (cfg_path.clone(), text)
        };
        let token = |key: &str| -> String {
            let Some(cfg) = &cfg else {
                return String::new();
            };
            match &cfg[key] {
                serde_json::Value::String(s) => s.clone(),
                // Older configs store AddedToken objects.
                serde_json::Value::Object(o) => o
                    .get("content")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                _ => String::new(),
            }
        };
        Self::from_source(source, text, token("bos_token"), token("eos_token"))
    }

    /// Compile `text` (kept for tests and for templates given in the config).
    pub fn from_source(
        source: PathBuf,
        text: String,
        bos_token: String,
        eos_token: String,
    ) -> Result<Self> {
        let mut env = minijinja::Environment::new();
        // HF renders templates with these two options; without them whitespace differs.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // HF templates call Python string/dict methods (`.strip()`, `.items()`, ...).
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template_owned("chat", text)
            .map_err(|e| LlmError::Template {
                path: source.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            env,
            source,
            bos_token,
            eos_token,
        })
    }

    /// The prompt for `messages`, ending with the assistant's turn header.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| LlmError::Template {
                path: self.source.clone(),
                reason: e.to_string(),
            })?;
        tmpl.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(|e| LlmError::Template {
            path: self.source.clone(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn tmpl(text: &str) -> ChatTemplate {
        ChatTemplate::from_source("t".into(), text.into(), "<s>".into(), "</s>".into()).unwrap()
    }

    #[test]
    fn smollm2_template_adds_default_system_prompt() {
        let out = tmpl(SMOLLM2).render(&[ChatMessage::user("Hi")]).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let out = tmpl(SMOLLM2)
            .render(&[ChatMessage::system("Be brief."), ChatMessage::user("Hi")])
            .unwrap();
        assert!(
            out.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n"),
            "{out}"
        );
    }

    #[test]
    fn python_string_methods_and_raise_exception_work() {
        let t = tmpl("{{ bos_token }}{% for m in messages %}{% if m.role not in ['user'] %}{{ raise_exception('bad role') }}{% endif %}{{ m.content.strip().upper() }}{% endfor %}");
        assert_eq!(t.render(&[ChatMessage::user("  hi ")]).unwrap(), "<s>HI");
        let err = t.render(&[ChatMessage::assistant("x")]).unwrap_err();
        assert!(err.to_string().contains("bad role"), "{err}");
    }
}
