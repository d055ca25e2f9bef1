//! A tiny OpenAI-compatible endpoint for the faults a real server cannot be made to produce:
//! a stream cut mid-answer, a stall before the first token, a tool call naming an intent that
//! does not exist, a 5xx. Everything else in the cloud tests runs against the real llama.cpp
//! server (`llama_server.rs`). Serves on a loopback port from a thread; what it does is
//! switched at run time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Fault {
    /// A good streamed answer of these pieces.
    Answer(Vec<&'static str>),
    /// These pieces, then the connection closes without `[DONE]`.
    CutAfter(Vec<&'static str>),
    /// Headers, then nothing (for this long).
    Stall(Duration),
    /// A streamed tool call of this function name and arguments.
    ToolCall(&'static str, &'static str),
    /// This HTTP status with a JSON error.
    Status(u16),
}

pub struct FaultServer {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    requests: Arc<AtomicUsize>,
}

impl FaultServer {
    pub fn start(fault: Fault) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let fault = Arc::new(Mutex::new(fault));
        let requests = Arc::new(AtomicUsize::new(0));
        let (f, n) = (fault.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (f, n) = (f.clone(), n.clone());
                std::thread::spawn(move || serve(stream, &f, &n));
            }
        });
        FaultServer {
            port,
            fault,
            requests,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Chat-completion requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, fault: &Mutex<Fault>, n: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    n.fetch_add(1, Ordering::SeqCst);
    let fault = fault.lock().unwrap().clone();
    let mut out = stream;
    let sse_head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    let piece = |t: &str| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": t}}]})
        )
    };
    match fault {
        Fault::Answer(pieces) => {
            let _ = out.write_all(sse_head.as_bytes());
            for p in pieces {
                let _ = out.write_all(piece(p).as_bytes());
            }
            let end = serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 40, "completion_tokens": 6}});
            let _ = out.write_all(format!("data: {end}\n\ndata: [DONE]\n\n").as_bytes());
        }
        Fault::CutAfter(pieces) => {
            let _ = out.write_all(sse_head.as_bytes());
            for p in pieces {
                let _ = out.write_all(piece(p).as_bytes());
                let _ = out.flush();
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = out.shutdown(std::net::Shutdown::Both);
        }
        Fault::Stall(d) => {
            let _ = out.write_all(sse_head.as_bytes());
            let _ = out.flush();
            std::thread::sleep(d);
        }
        Fault::ToolCall(name, args) => {
            let _ = out.write_all(sse_head.as_bytes());
            let call = serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}
            ]}, "finish_reason": "tool_calls"}]});
            let _ = out.write_all(format!("data: {call}\n\ndata: [DONE]\n\n").as_bytes());
        }
        Fault::Status(code) => {
            let body = r#"{"error":{"message":"the model is overloaded"}}"#;
            let _ = out.write_all(
                format!(
                    "HTTP/1.1 {code} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    }
    let _ = out.flush();
}
