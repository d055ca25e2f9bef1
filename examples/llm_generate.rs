//! Greedy answer of the lite LLM to a prompt, streamed, with decode speed and peak memory.
//!
//! `cargo run --release --example llm_generate -- "What is the capital of France?" [threads]`

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use skylark::llm::{ChatMessage, DecoderModel, GenerationParams, LlmOptions, DEFAULT_MODEL_SUBDIR};

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let prompt = args
        .next()
        .unwrap_or_else(|| "What is the capital of France?".into());
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(2);
    // SKYLARK_LLM_SPIN=0: ONNX Runtime's threads do not spin (`llm.spin_threads = false`).
    let spin_threads = std::env::var("SKYLARK_LLM_SPIN").map_or(true, |v| v != "0");
    let opts = LlmOptions {
        threads,
        spin_threads,
        ..LlmOptions::default()
    };
    let dir = opts.models_dir.join(DEFAULT_MODEL_SUBDIR);

    let t0 = Instant::now();
    let mut model = DecoderModel::load(&dir, &opts)?;
    let load_s = t0.elapsed().as_secs_f64();

    let params = GenerationParams {
        max_tokens: 128,
        ..GenerationParams::default()
    };
    let cancel = AtomicBool::new(false);
    let t1 = Instant::now();
    let mut first_chunk_s = None;
    let g = model.generate(&[ChatMessage::user(prompt)], &params, &cancel, |chunk| {
        first_chunk_s.get_or_insert(t1.elapsed().as_secs_f64());
        print!("{chunk}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })?;
    let total_s = t1.elapsed().as_secs_f64();
    println!();
    let first = first_chunk_s.unwrap_or(total_s);
    let decode_tokens = g.token_ids.len().saturating_sub(1);
    let tps = if total_s > first && decode_tokens > 0 {
        decode_tokens as f64 / (total_s - first)
    } else {
        0.0
    };
    eprintln!(
        "load {load_s:.2}s, prompt {} tokens, first text {first:.2}s, {} new tokens, decode {tps:.1} tokens/s, \
         finish {:?}, peak RSS {:.0} MB, threads {threads}",
        g.prompt_tokens,
        g.token_ids.len(),
        g.finish,
        peak_rss_mb().unwrap_or(0.0)
    );
    Ok(())
}
