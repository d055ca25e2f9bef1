//! Reading an OpenAI-compatible chat-completions stream: server-sent events (`data: {...}`
//! lines, `data: [DONE]` at the end) folded into the answer's text, its tool calls and the
//! reported usage. Pure: fed line by line, unit-tested without a server.

use serde_json::Value;

/// One tool call as it accumulates over the stream's deltas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
}

/// What the stream said so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamState {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// `usage.prompt_tokens` / `completion_tokens`, when the server reported them.
    pub usage: Option<(u64, u64)>,
    /// Content pieces received (about one token each on llama.cpp and vLLM).
    pub pieces: u64,
    pub finish_reason: Option<String>,
    /// `data: [DONE]` was seen.
    pub done: bool,
    /// Lines of the current event's `data:` fields.
    data: String,
}

/// What one line changed.
#[derive(Debug, PartialEq)]
pub enum LineEvent {
    None,
    /// A piece of the answer's text.
    Text(String),
    Done,
}

impl StreamState {
    /// Feeds one line of the body (without its line ending).
    pub fn line(&mut self, line: &str) -> Result<LineEvent, String> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            // End of an event.
            let data = std::mem::take(&mut self.data);
            return self.event(&data);
        }
        if line.starts_with(':') {
            return Ok(LineEvent::None); // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            if !self.data.is_empty() {
                self.data.push('\n');
            }
            self.data.push_str(value);
        }
        Ok(LineEvent::None)
    }

    /// The body ended: an event not closed by a blank line still counts.
    pub fn finish(&mut self) -> Result<LineEvent, String> {
        let data = std::mem::take(&mut self.data);
        self.event(&data)
    }

    fn event(&mut self, data: &str) -> Result<LineEvent, String> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(LineEvent::None);
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(LineEvent::Done);
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| format!("an event is not JSON ({e})"))?;
        self.chunk(&v)
    }

    /// One `chat.completion.chunk` (or, from a server that ignored `stream`, a whole
    /// `chat.completion`, whose `message` is read like a delta).
    pub fn chunk(&mut self, v: &Value) -> Result<LineEvent, String> {
        if let Some(err) = v.get("error") {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| err.to_string());
            return Err(format!("the server reported an error: {message}"));
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            let n = |k: &str| u.get(k).and_then(Value::as_u64);
            if let (Some(i), Some(o)) = (n("prompt_tokens"), n("completion_tokens")) {
                self.usage = Some((i, o));
            }
        }
        let Some(choices) = v.get("choices").and_then(Value::as_array) else {
            return if v.get("usage").is_some() {
                Ok(LineEvent::None)
            } else {
                Err("a chunk has no choices".into())
            };
        };
        let mut text = String::new();
        for choice in choices {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(r.to_string());
            }
            let Some(delta) = choice.get("delta").or_else(|| choice.get("message")) else {
                continue;
            };
            if let Some(c) = delta.get("content").and_then(Value::as_str) {
                text.push_str(c);
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for (n, call) in calls.iter().enumerate() {
                    let i = call
                        .get("index")
                        .and_then(Value::as_u64)
                        .map(|i| i as usize)
                        .unwrap_or(n);
                    if i > 16 {
                        return Err("too many tool calls".into());
                    }
                    while self.tool_calls.len() <= i {
                        self.tool_calls.push(ToolCall::default());
                    }
                    let f = call.get("function");
                    let slot = &mut self.tool_calls[i];
                    if let Some(name) = f.and_then(|f| f.get("name")).and_then(Value::as_str) {
                        slot.name.push_str(name);
                    }
                    match f.and_then(|f| f.get("arguments")) {
                        Some(Value::String(a)) => slot.arguments.push_str(a),
                        Some(Value::Object(o)) => slot
                            .arguments
                            .push_str(&Value::Object(o.clone()).to_string()),
                        _ => {}
                    }
                }
            }
        }
        if text.is_empty() {
            return Ok(LineEvent::None);
        }
        self.pieces += 1;
        self.text.push_str(&text);
        Ok(LineEvent::Text(text))
    }

    /// Whether the stream ended properly (`[DONE]` or a finish reason), not cut.
    pub fn complete(&self) -> bool {
        self.done || self.finish_reason.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut StreamState, body: &str) -> Vec<String> {
        let mut out = Vec::new();
        for line in body.lines() {
            if let LineEvent::Text(t) = s.line(line).unwrap() {
                out.push(t);
            }
        }
        if let LineEvent::Text(t) = s.finish().unwrap() {
            out.push(t);
        }
        out
    }

    #[test]
    fn text_pieces_usage_and_done() {
        let mut s = StreamState::default();
        let body = ": keep-alive\n\
            data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n\
            data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Paris \"}}]}\n\n\
            data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"it is.\"},\"finish_reason\":\"stop\"}]}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}\n\n\
            data: [DONE]\n\n";
        assert_eq!(feed(&mut s, body), vec!["Paris ", "it is."]);
        assert_eq!(s.text, "Paris it is.");
        assert_eq!(s.usage, Some((12, 3)));
        assert!(s.complete() && s.done);
    }

    #[test]
    fn tool_call_arguments_accumulate() {
        let mut s = StreamState::default();
        let body = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"climate__set_temperature\",\"arguments\":\"{\\\"tempera\"}}]}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ture\\\": 21}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n";
        feed(&mut s, body);
        assert_eq!(s.tool_calls.len(), 1);
        assert_eq!(s.tool_calls[0].name, "climate__set_temperature");
        assert_eq!(s.tool_calls[0].arguments, "{\"temperature\": 21}");
        assert!(s.complete(), "a finish reason without [DONE] is complete");
    }

    #[test]
    fn a_cut_stream_is_not_complete_and_garbage_is_an_error() {
        let mut s = StreamState::default();
        feed(
            &mut s,
            "data: {\"choices\":[{\"delta\":{\"content\":\"Half\"}}]}\n\n",
        );
        assert!(!s.complete());
        let mut s = StreamState::default();
        assert!(s.line("data: {not json").is_ok());
        assert!(s.line("").is_err());
        let mut s = StreamState::default();
        s.line("data: {\"error\":{\"message\":\"overloaded\"}}")
            .unwrap();
        assert!(s.line("").unwrap_err().contains("overloaded"));
    }
}
