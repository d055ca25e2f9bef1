//! The in-process side of the JNI overhead figure: µs per `Engine::recognize` call on the same
//! sentence, engine built the same way as the binding's (`skylark::assistant::build`). The JNI
//! side is `android/test.sh --bench N` (io.skylark.AssistantTest); the README gives both.
//!
//! `cargo run --release -p skylark-android --example recognize_bench -- [N]`

use std::time::Instant;

use skylark::assistant::{AudioIn, BuildOptions};

const SENTENCE: &str = "turn on the air conditioning";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 200_000,
    };
    let config = skylark::config::Config::default();
    let options = BuildOptions {
        transcriber: false,
        speaker: false,
        audio_in: AudioIn::None,
    };
    let models_dir = config.models_dir();
    let engine = skylark::assistant::build(&config, &models_dir, options)?.engine;
    for _ in 0..n.min(20_000) {
        std::hint::black_box(engine.recognize(SENTENCE, Some("en"))?);
    }
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(engine.recognize(SENTENCE, Some("en"))?);
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    // What the binding adds on the Rust side: the result encoded as one string for Java.
    let t1 = Instant::now();
    for _ in 0..n {
        let r = engine.recognize(SENTENCE, Some("en"))?;
        std::hint::black_box(skylark_jni::encode(&r));
    }
    let us_encoded = t1.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("rust recognize: {us:.2} us/call over {n} calls");
    println!("rust recognize + encode for Java: {us_encoded:.2} us/call");
    Ok(())
}
