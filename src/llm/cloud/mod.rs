//! The cloud client: an OpenAI-compatible chat-completions API (vLLM, SGLang, llama.cpp's
//! server, hosted APIs) over `ureq` with rustls, streamed as server-sent events. The intent
//! catalog is offered as tools (`tools.rs`), so the cloud names the same intents and slots as
//! the device; a call naming anything else is refused. Blocking: the engine runs it on a
//! blocking thread and stops waiting for it at its latency budget (`engine::route`).
//!
//! The API key comes from an environment variable or a file named in `[cloud]`; it is sent
//! as `Authorization: Bearer` and never logged (`Debug` hides it). Only text leaves the
//! device — never audio — and only what the router let through its privacy rules.

pub mod sse;
pub mod tools;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::CloudConfig;
use crate::engine::{CancelToken, CloudAnswer, CloudFailure, CloudModel, CloudReply, CloudRequest};
use sse::{LineEvent, StreamState};

/// Longest answer text read from a stream, in bytes (a runaway server is cut here).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why the cloud client could not be set up (the daemon then runs without the cloud tier).
#[derive(Debug, thiserror::Error)]
pub enum CloudSetupError {
    #[error("cloud.api_key_env names {var}, which is not set: export it for the daemon (systemd: Environment= or EnvironmentFile= in a drop-in), or use cloud.api_key_file")]
    KeyEnvMissing { var: String },
    #[error(
        "cloud.api_key_file {path}: {source}; create it with the key on its first line (mode 600)"
    )]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API key from {from} is empty: put the key there")]
    EmptyKey { from: String },
}

pub struct CloudClient {
    agent: ureq::Agent,
    endpoint: String,
    model: String,
    key: Option<String>,
    max_tokens: usize,
    system_prompt: String,
}

impl std::fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("key", &self.key.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// The API key the config points to: the environment variable if named, else the file, else
/// none (a local server without keys).
pub fn api_key(c: &CloudConfig) -> Result<Option<String>, CloudSetupError> {
    let (key, from) = if !c.api_key_env.trim().is_empty() {
        let var = c.api_key_env.trim().to_string();
        match std::env::var(&var) {
            Ok(k) => (k, format!("${var}")),
            Err(_) if !c.api_key_file.trim().is_empty() => read_key_file(&c.api_key_file)?,
            Err(_) => return Err(CloudSetupError::KeyEnvMissing { var }),
        }
    } else if !c.api_key_file.trim().is_empty() {
        read_key_file(&c.api_key_file)?
    } else {
        return Ok(None);
    };
    let key = key.lines().next().unwrap_or("").trim().to_string();
    if key.is_empty() {
        return Err(CloudSetupError::EmptyKey { from });
    }
    Ok(Some(key))
}

fn read_key_file(path: &str) -> Result<(String, String), CloudSetupError> {
    let path = PathBuf::from(path.trim());
    std::fs::read_to_string(&path)
        .map(|k| (k, path.display().to_string()))
        .map_err(|source| CloudSetupError::KeyFile { path, source })
}

impl CloudClient {
    pub fn from_config(c: &CloudConfig) -> Result<CloudClient, CloudSetupError> {
        let key = api_key(c)?;
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_millis(c.connect_timeout_ms)))
            .timeout_global(Some(Duration::from_millis(c.answer_timeout_ms)))
            .build()
            .new_agent();
        Ok(CloudClient {
            agent,
            endpoint: format!("{}/chat/completions", c.url.trim().trim_end_matches('/')),
            model: c.model.clone(),
            key,
            max_tokens: c.max_tokens,
            system_prompt: c.system_prompt.clone(),
        })
    }

    /// The request body (also what the privacy tests look for in a server's log).
    pub fn body(&self, request: &CloudRequest) -> Value {
        let language = match request.language.primary() {
            "zh" => "Answer in Simplified Chinese.",
            _ => "Answer in English.",
        };
        let mut body = json!({
            "model": self.model,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": self.max_tokens,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": format!("{} {language}", self.system_prompt)},
                {"role": "user", "content": request.text},
            ],
        });
        if !request.tools.is_empty() {
            body["tools"] = tools::tools(&request.tools);
            body["tool_choice"] = json!("auto");
        }
        body
    }
}

impl CloudModel for CloudClient {
    fn complete(
        &self,
        request: &CloudRequest,
        cancel: &CancelToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<CloudReply, CloudFailure> {
        let body = self.body(request).to_string();
        let mut req = self
            .agent
            .post(&self.endpoint)
            .header("Accept", "text/event-stream")
            .content_type("application/json");
        if let Some(key) = &self.key {
            req = req.header("Authorization", &format!("Bearer {key}"));
        }
        let resp = req.send(body.as_bytes()).map_err(request_failure)?;
        let status = resp.status().as_u16();
        let json_body = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        let mut reader = BufReader::new(resp.into_body().into_reader());
        if status == 401 || status == 403 {
            return Err(CloudFailure::Unauthorized(status));
        }
        if status >= 400 {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(
                &mut std::io::Read::take(&mut reader, 2048),
                &mut text,
            );
            return Err(CloudFailure::Http {
                status,
                message: short(&text),
            });
        }
        let mut state = StreamState::default();
        if json_body {
            // A server that ignored `stream`: one whole completion.
            let v: Value = serde_json::from_reader(std::io::Read::take(reader, 1 << 20))
                .map_err(|e| CloudFailure::Malformed(format!("the answer is not JSON ({e})")))?;
            state.chunk(&v).map_err(CloudFailure::Malformed)?;
            if !state.text.is_empty() {
                on_text(&state.text);
            }
            state.done = true;
        } else {
            let mut line = String::new();
            loop {
                if cancel.is_cancelled() {
                    return Err(CloudFailure::Cancelled);
                }
                line.clear();
                let n = reader.read_line(&mut line).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timeout")
                    {
                        CloudFailure::Timeout(format!("reading the answer: {e}"))
                    } else {
                        CloudFailure::Cut(e.to_string())
                    }
                })?;
                let event = if n == 0 {
                    state.finish()
                } else {
                    state.line(line.trim_end_matches('\n'))
                }
                .map_err(CloudFailure::Malformed)?;
                match event {
                    LineEvent::Text(t) => on_text(&t),
                    LineEvent::Done => break,
                    LineEvent::None => {}
                }
                if n == 0 {
                    break;
                }
                if state.text.len() > MAX_ANSWER_BYTES {
                    return Err(CloudFailure::Malformed(format!(
                        "the answer is longer than {MAX_ANSWER_BYTES} bytes"
                    )));
                }
            }
            if !state.complete() {
                return Err(CloudFailure::Cut(
                    "the stream ended before its end ([DONE] or a finish reason)".into(),
                ));
            }
        }
        let (tokens_in, tokens_out, estimated) = match state.usage {
            Some((i, o)) => (i, o, false),
            None => (
                (body.len() as u64).div_ceil(4),
                state.pieces
                    + state
                        .tool_calls
                        .iter()
                        .map(|c| ((c.name.len() + c.arguments.len()) as u64).div_ceil(4))
                        .sum::<u64>(),
                true,
            ),
        };
        let answer = match state.tool_calls.iter().find(|c| !c.name.is_empty()) {
            Some(call) => {
                let (intent, slots) = tools::intent_of(&request.tools, &call.name, &call.arguments)
                    .map_err(CloudFailure::Refused)?;
                CloudAnswer::Intent { intent, slots }
            }
            None => CloudAnswer::Text(state.text),
        };
        Ok(CloudReply {
            answer,
            tokens_in,
            tokens_out,
            estimated,
        })
    }
}

/// A request that got no response.
fn request_failure(e: ureq::Error) -> CloudFailure {
    match e {
        ureq::Error::Timeout(t) => CloudFailure::Timeout(format!("{t:?}")),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            CloudFailure::Offline(e.to_string())
        }
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::NetworkUnreachable
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::AddrNotAvailable => CloudFailure::Offline(io.to_string()),
            std::io::ErrorKind::TimedOut => CloudFailure::Timeout(io.to_string()),
            _ => CloudFailure::Cut(io.to_string()),
        },
        other => CloudFailure::Offline(other.to_string()),
    }
}

/// A server's error text, one line, bounded, without control characters.
fn short(text: &str) -> String {
    let t: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    t.trim().to_string()
}

/// The cloud client of `[cloud]`, or `None` (logged) when no URL is configured or the key
/// cannot be read: the assistant then stays on the device.
pub fn load_configured(c: &CloudConfig) -> Option<CloudClient> {
    if !c.enabled() {
        return None;
    }
    match CloudClient::from_config(c) {
        Ok(client) => {
            tracing::info!(url = %c.url, model = %c.model, "cloud tier configured");
            Some(client)
        }
        Err(e) => {
            tracing::error!("cloud tier off: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_comes_from_the_named_variable_or_file_and_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "sk-file-secret\n").unwrap();
        let mut c = CloudConfig {
            url: "http://127.0.0.1:9/v1".into(),
            api_key_file: file.display().to_string(),
            ..CloudConfig::default()
        };
        assert_eq!(api_key(&c).unwrap().as_deref(), Some("sk-file-secret"));
        let client = CloudClient::from_config(&c).unwrap();
        assert!(!format!("{client:?}").contains("secret"));
        c.api_key_env = "SKYLARK_TEST_SURELY_UNSET_KEY".into();
        assert_eq!(
            api_key(&c).unwrap().as_deref(),
            Some("sk-file-secret"),
            "an unset variable falls back to the file"
        );
        c.api_key_file = String::new();
        let e = api_key(&c).unwrap_err().to_string();
        assert!(e.contains("SKYLARK_TEST_SURELY_UNSET_KEY"), "{e}");
        c.api_key_env = String::new();
        assert_eq!(api_key(&c).unwrap(), None);
    }

    #[test]
    fn a_closed_port_is_offline() {
        let c = CloudConfig {
            url: "http://127.0.0.1:9/v1".into(),
            ..CloudConfig::default()
        };
        let client = CloudClient::from_config(&c).unwrap();
        let req = CloudRequest {
            text: "hello".into(),
            language: crate::nlu::Language::english(),
            tools: Vec::new(),
        };
        let r = client.complete(&req, &CancelToken::new(), &mut |_| {});
        assert!(matches!(r, Err(CloudFailure::Offline(_))), "{r:?}");
    }
}
