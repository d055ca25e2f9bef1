//! skylark's decoder against onnxruntime-genai on the same ONNX model, prompt and thread
//! count, in one run: `cargo bench --bench llm_vs_genai`.
//!
//! Each side runs in its own process (so peak RSS is its own): this binary re-runs itself
//! with `--worker` for skylark, and `tests/tools/genai_bench.py` (PyPI `onnxruntime-genai`,
//! in the skylark venv or $SKYLARK_PYTHON) for genai. Both decode greedily; the table shows
//! time to first token, decode tokens/s, peak RSS and the tokens/s ratio (skylark / genai).
//! Settings: SKYLARK_BENCH_THREADS (2), SKYLARK_BENCH_TOKENS (128), SKYLARK_BENCH_ROUNDS (2,
//! alternating sides; the best round of each side is shown, the machine being shared).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use skylark::llm::{
    ChatMessage, DecoderModel, FinishReason, GenerationParams, LlmOptions, DEFAULT_MODEL_SUBDIR,
};

const PROMPT: &str =
    "Write a long, detailed story about a dragon who learns to drive a car through a busy city.";

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn model_dir() -> PathBuf {
    skylark::models::default_models_dir().join(DEFAULT_MODEL_SUBDIR)
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SKYLARK_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
        .join(".cache/skylark/venv/bin/python")
}

/// The skylark side, in this (child) process; prints one JSON line.
fn worker(prompt_file: &Path, threads: usize, max_new: usize) -> Result<(), String> {
    let opts = LlmOptions {
        threads,
        ..LlmOptions::default()
    };
    let mut model = DecoderModel::load(&model_dir(), &opts).map_err(|e| e.to_string())?;
    let prompt = std::fs::read_to_string(prompt_file).map_err(|e| e.to_string())?;
    let ids = model.encode_text(&prompt).map_err(|e| e.to_string())?;
    let params = GenerationParams {
        max_tokens: max_new,
        stop: vec![],
        ..GenerationParams::default()
    };
    let cancel = AtomicBool::new(false);
    let t0 = Instant::now();
    let mut first: Option<Instant> = None;
    let g = model
        .generate_from_ids(ids.clone(), &params, &cancel, |_| {
            first.get_or_insert_with(Instant::now);
        })
        .map_err(|e| e.to_string())?;
    let end = Instant::now();
    let first = first.unwrap_or(end);
    // Model steps after the first token: one per token, plus the one that gave the end token.
    let steps =
        g.token_ids.len().saturating_sub(1) + usize::from(g.finish == FinishReason::EndOfTurn);
    let decode_s = (end - first).as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "side": format!("skylark {}", env!("CARGO_PKG_VERSION")),
            "prompt_tokens": ids.len(),
            "tokens": g.token_ids.len(),
            "ttft_ms": (first - t0).as_secs_f64() * 1000.0,
            "decode_tps": if decode_s > 0.0 { steps as f64 / decode_s } else { 0.0 },
            "peak_rss_kib": peak_rss_kib(),
            "text": g.text,
        })
    );
    Ok(())
}

fn run(cmd: &mut Command) -> Result<serde_json::Value, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or("no JSON line")?;
    serde_json::from_str(line).map_err(|e| e.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = env_usize("SKYLARK_BENCH_THREADS", 2);
    let max_new = env_usize("SKYLARK_BENCH_TOKENS", 128);
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        let file = PathBuf::from(args.get(i + 1).cloned().unwrap_or_default());
        if let Err(e) = worker(&file, threads, max_new) {
            eprintln!("skylark worker: {e}");
            std::process::exit(1);
        }
        return;
    }
    let dir = model_dir();
    if !dir.join("model.onnx").is_file() {
        eprintln!(
            "the lite LLM is not installed at {}: run `skylark models fetch`",
            dir.display()
        );
        std::process::exit(1);
    }
    // The prompt both sides tokenize: the model's own chat template, rendered by skylark.
    let prompt = {
        if let Err(e) = skylark::onnx::init(&skylark::models::default_models_dir()) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        let model = DecoderModel::load(
            &dir,
            &LlmOptions {
                threads: 1,
                ..LlmOptions::default()
            },
        )
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        model
            .render_prompt(&[ChatMessage::user(PROMPT)])
            .unwrap_or_default()
    };
    let tmp = std::env::temp_dir().join(format!("skylark-bench-prompt-{}.txt", std::process::id()));
    if let Err(e) = std::fs::write(&tmp, &prompt) {
        eprintln!("{}: {e}", tmp.display());
        std::process::exit(1);
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(&args[0]));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/genai_bench.py");
    let rounds = env_usize("SKYLARK_BENCH_ROUNDS", 2).max(1);
    let mut best: [Option<serde_json::Value>; 2] = [None, None];
    for round in 0..rounds {
        for (side, slot) in best.iter_mut().enumerate() {
            let r = if side == 0 {
                run(Command::new(&exe).arg("--worker").arg(&tmp))
            } else {
                run(Command::new(python())
                    .arg(&script)
                    .arg("--model")
                    .arg(&dir)
                    .arg("--prompt-file")
                    .arg(&tmp)
                    .arg("--max-new")
                    .arg(max_new.to_string())
                    .arg("--threads")
                    .arg(threads.to_string()))
            };
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("round {round}: {e}");
                    std::process::exit(1);
                }
            };
            let tps = r["decode_tps"].as_f64().unwrap_or(0.0);
            eprintln!(
                "round {round}: {} {:.1} tokens/s, TTFT {:.0} ms",
                r["side"],
                tps,
                r["ttft_ms"].as_f64().unwrap_or(0.0)
            );
            if slot
                .as_ref()
                .is_none_or(|b| b["decode_tps"].as_f64().unwrap_or(0.0) < tps)
            {
                *slot = Some(r);
            }
        }
    }
    let _ = std::fs::remove_file(&tmp);
    let [Some(ours), Some(genai)] = best else {
        return;
    };
    println!("model {} | threads {threads} | greedy, up to {max_new} new tokens | best of {rounds} rounds", dir.display());
    println!(
        "{:<28} {:>8} {:>8} {:>10} {:>12} {:>10}",
        "side", "prompt", "tokens", "TTFT ms", "decode tok/s", "peak MiB"
    );
    for r in [&ours, &genai] {
        println!(
            "{:<28} {:>8} {:>8} {:>10.0} {:>12.1} {:>10.0}",
            r["side"].as_str().unwrap_or("?"),
            r["prompt_tokens"],
            r["tokens"],
            r["ttft_ms"].as_f64().unwrap_or(0.0),
            r["decode_tps"].as_f64().unwrap_or(0.0),
            r["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
        );
    }
    let ratio = ours["decode_tps"].as_f64().unwrap_or(0.0)
        / genai["decode_tps"].as_f64().unwrap_or(f64::NAN);
    println!("decode tokens/s ratio skylark / genai: {ratio:.2}");
    println!("same text: {}", ours["text"] == genai["text"]);
}
