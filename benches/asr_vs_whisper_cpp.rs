//! skylark's speech recognition against whisper.cpp's own command-line program (`whisper-cli`)
//! on the same ggml models, the same clips and the same thread count, in one run:
//! `cargo bench --bench asr_vs_whisper_cpp` (`SKYLARK_ASRBENCH_PART=cer` or `speed` for one
//! part).
//!
//! Mandarin accuracy (`asr_bench/mandarin.rs`): character error rate of skylark and
//! whisper-cli on the same Mandarin clips and model (base), beside each decoding choice.
//!
//! What is timed is end-of-speech → final transcript with the model already loaded:
//! - whisper-cli: the encode + decode time it reports itself (mel + sample + encode + decode
//!   + batchd + prompt from its timings print; model load excluded), one process per run;
//! - skylark: the `WhisperRecognizer::transcribe` call, in a worker process (this binary run
//!   again) that loads the model, transcribes once (cold) and again (warm, as in the daemon,
//!   which has served earlier utterances), with `AudioContext::Full` and with the default
//!   trimming (`Fit`).
//!
//! Both sides run greedy decoding without temperature fallback, non-speech tokens suppressed,
//! flash attention off (skylark's setting; whisper-cli's default is on, so it gets `-nfa`).
//! whisper-cli also runs with `-ac N`, the audio context skylark's `Fit` picks for the clip.
//! Peak RSS of every process comes from `wait4`. Runs are interleaved so load from other
//! processes hits both sides alike; figures are medians. `SKYLARK_ASRBENCH_RUNS` (default 5)
//! sets the runs per configuration (default 3).
//!
//! whisper-cli is built from the PyPI sdist `pywhispercpp` 1.5.1 (whisper.cpp 1.8.5) into
//! `$XDG_CACHE_HOME/skylark/bench/` on first use; skylark links whisper.cpp 1.8.3 through
//! whisper-rs-sys 0.15. The GGML build flags of both are printed and compared.

#[path = "asr_bench/mandarin.rs"]
mod mandarin;
#[path = "asr_bench/proc.rs"]
mod proc;
#[path = "asr_bench/whisper_cli.rs"]
mod whisper_cli;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use skylark::asr::{AsrOptions, AudioContext, TranscribeOptions, WhisperRecognizer};

const THREADS: usize = 2;
const WORKER_ENV: &str = "SKYLARK_ASRBENCH_WORKER";
const MODELS: &[&str] = &[
    "whisper/ggml-tiny.en-q8_0.bin",
    "whisper/ggml-base-q8_0.bin",
];
const COMMANDS: &[(&str, &str)] = &[
    ("air_conditioning", "Please turn on the air conditioning."),
    ("temperature", "Set the temperature to twenty two degrees."),
    ("charging", "Navigate to the nearest charging station."),
];
/// A run that takes longer is a decoder caught in a loop: it is killed and reported.
const TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    if let Ok(job) = std::env::var(WORKER_ENV) {
        let v: Value = serde_json::from_str(&job).expect("worker job");
        if v["mode"] == "zh_cer" {
            mandarin::worker(&v, THREADS);
        } else {
            worker(&job);
        }
        return;
    }
    // `speed` (the timing tables), `cer` (Mandarin accuracy) or both (default).
    let part = std::env::var("SKYLARK_ASRBENCH_PART").unwrap_or_default();
    let runs: usize = std::env::var("SKYLARK_ASRBENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let models_dir = skylark::models::default_models_dir();
    for m in MODELS {
        let p = models_dir.join(m);
        assert!(
            p.is_file(),
            "{} is missing: run `skylark models fetch`",
            p.display()
        );
    }

    let dir = whisper_cli::bench_dir();
    let cli = whisper_cli::ensure(&dir).unwrap_or_else(|e| panic!("whisper-cli: {e}"));
    print_build_check(&dir);

    let clips = make_clips(&models_dir, &dir.join("clips"));
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    println!(
        "load average at start: {} ({} CPUs)",
        load(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let me = std::env::current_exe().expect("own path");

    let mut verdicts = Vec::new();
    if part != "speed" {
        verdicts.push(mandarin::run(
            &cli,
            &models_dir,
            &dir,
            &me,
            WORKER_ENV,
            THREADS,
            tmp.path(),
        ));
    }
    for model in MODELS.iter().filter(|_| part != "cer") {
        let model_path = models_dir.join(model);
        println!("\n== {model} — {THREADS} threads, {runs} runs each, medians ==");
        let mut rows = Vec::new();
        for clip in &clips {
            let ac = fit_audio_ctx(clip.samples);
            let mut r = Row::new(clip);
            for run in 0..runs {
                eprintln!("{model} {} run {}/{runs}", clip.name, run + 1);
                for (with_ac, dst) in [(false, 0), (true, 1)] {
                    let mut cmd = Command::new(&cli);
                    cmd.arg("-m").arg(&model_path).arg("-f").arg(&clip.path);
                    cmd.args([
                        "-t",
                        &THREADS.to_string(),
                        "-l",
                        "en",
                        "-nt",
                        "-bs",
                        "1",
                        "-bo",
                        "1",
                        "-nf",
                        "-sns",
                        "-nfa",
                    ]);
                    if with_ac {
                        cmd.args(["-ac", &ac.to_string()]);
                    }
                    match proc::run_measured(&mut cmd, tmp.path(), TIMEOUT) {
                        Ok(m) => {
                            let ms = cli_ms(&m.stderr).unwrap_or_else(|| {
                                panic!("no timings from whisper-cli:\n{}", m.stderr)
                            });
                            r.ms[dst].push(ms);
                            r.rss_kb[dst] = r.rss_kb[dst].max(m.max_rss_kb);
                            r.text[dst] = format!(
                                "{} [{} decoder runs]",
                                m.stdout.split_whitespace().collect::<Vec<_>>().join(" "),
                                cli_decodes(&m.stderr).unwrap_or(-1)
                            );
                        }
                        Err(e) => {
                            r.ms[dst].push(f64::NAN);
                            r.text[dst] = format!("(failed: {e})");
                        }
                    }
                }
                for (mode, dst) in [("full", 2), ("fit", 3)] {
                    let job =
                        json!({"model": model_path, "wav": clip.path, "mode": mode}).to_string();
                    let m = match proc::run_measured(
                        Command::new(&me).env(WORKER_ENV, job),
                        tmp.path(),
                        TIMEOUT,
                    ) {
                        Ok(m) => m,
                        Err(e) => {
                            r.ms[dst].push(f64::NAN);
                            r.text[dst] = format!("(failed: {e})");
                            continue;
                        }
                    };
                    let v: Value = serde_json::from_str(m.stdout.trim())
                        .unwrap_or_else(|e| panic!("worker said {:?}: {e}", m.stdout));
                    r.ms[dst].push(v["warm_ms"].as_f64().unwrap_or(f64::NAN));
                    r.cold_ms[dst - 2].push(v["cold_ms"].as_f64().unwrap_or(f64::NAN));
                    r.rss_kb[dst] = r.rss_kb[dst].max(m.max_rss_kb);
                    let incr = v["hwm_kb"].as_i64().unwrap_or(0)
                        - v["rss_before_kb"].as_i64().unwrap_or(0);
                    r.incr_kb[dst - 2] = r.incr_kb[dst - 2].max(incr);
                    r.text[dst] = v["text"].as_str().unwrap_or("").to_string();
                }
            }
            r.ac = ac;
            rows.push(r);
        }
        print_table(&rows);
        for r in rows.iter().filter(|r| (2.0..=4.0).contains(&r.secs)) {
            let (cli, full, fit) = (median(&r.ms[0]), median(&r.ms[2]), median(&r.ms[3]));
            verdicts.push(format!(
                "{model} {:<18} full/cli = {:.2} ({}), cli/fit = {:.1}× ({})",
                r.name,
                full / cli,
                if full / cli <= 1.0 {
                    "ok ≤ 1.0"
                } else {
                    "MISSED > 1.0"
                },
                cli / fit,
                if cli / fit >= 2.0 {
                    "ok ≥ 2×"
                } else {
                    "MISSED < 2×"
                },
            ));
        }
    }
    println!("\nload average at end: {}", load());
    println!("\n== Targets: Mandarin CER ≤ whisper-cli; 2–4 s commands: skylark Full no slower than whisper-cli, trimmed ≥ 2× faster ==");
    for v in &verdicts {
        println!("  {v}");
    }
}

struct Clip {
    name: String,
    path: PathBuf,
    samples: usize,
}

/// Measurements of one clip. Index: 0 whisper-cli, 1 whisper-cli -ac, 2 skylark Full,
/// 3 skylark Fit (warm); `cold_ms`/`incr_kb` index 0 Full, 1 Fit.
struct Row {
    name: String,
    secs: f64,
    ac: i32,
    ms: [Vec<f64>; 4],
    cold_ms: [Vec<f64>; 2],
    rss_kb: [i64; 4],
    incr_kb: [i64; 2],
    text: [String; 4],
}

impl Row {
    fn new(clip: &Clip) -> Self {
        Row {
            name: clip.name.clone(),
            secs: clip.samples as f64 / 16_000.0,
            ac: 0,
            ms: Default::default(),
            cold_ms: Default::default(),
            rss_kb: [0; 4],
            incr_kb: [0; 2],
            text: Default::default(),
        }
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The encoder frames skylark's default `AudioContext::Fit` runs for `samples` of audio
/// (50 a second plus the margin, capped at whisper's 1500), passed to whisper-cli as `-ac`.
fn fit_audio_ctx(samples: usize) -> i32 {
    let margin = match AudioContext::default() {
        AudioContext::Fit { margin } => margin,
        AudioContext::Full => 1500,
    };
    let frames = (samples.max(16_000) as f64 / 16_000.0 * 50.0).ceil() as i64 + i64::from(margin);
    frames.clamp(1, 1500) as i32
}

/// How many decoder passes (tokens, greedy) whisper-cli ran: shows a repetition loop.
fn cli_decodes(stderr: &str) -> Option<i64> {
    let line = stderr
        .lines()
        .find(|l| l.contains("whisper_print_timings") && l.contains("decode time"))?;
    line.split('/')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// whisper-cli's own processing time: the sum of its timing lines except model load.
fn cli_ms(stderr: &str) -> Option<f64> {
    let mut total = 0.0;
    for what in [
        "mel time",
        "sample time",
        "encode time",
        "decode time",
        "batchd time",
        "prompt time",
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains("whisper_print_timings") && l.contains(what))?;
        let value = line.split('=').nth(1)?.split_whitespace().next()?;
        total += value.parse::<f64>().ok()?;
    }
    Some(total)
}

/// Piper speaks the commands (16 kHz, 16-bit WAV, read back so both sides get the same
/// samples), framed with the segmenter's default pre- and post-roll silence; the 11 s JFK
/// clip is the long-dictation reference.
fn make_clips(models_dir: &Path, dir: &Path) -> Vec<Clip> {
    std::fs::create_dir_all(dir).expect("clip dir");
    skylark::onnx::init(models_dir).unwrap_or_else(|e| panic!("{e}"));
    let voice_path = models_dir.join("tts/en_US-joe-medium.onnx");
    let mut voice = skylark::tts::PiperVoice::load(&voice_path).unwrap_or_else(|e| panic!("{e}"));
    // What the listener hands the recogniser: the segmenter's pre-roll before the speech and
    // its post-roll after it.
    let seg = skylark::listen::SegmenterConfig::default();
    let pre = (seg.pre_roll_ms * 16) as usize;
    let post = (seg.post_roll_ms * 16) as usize;
    let mut clips = Vec::new();
    for (name, text) in COMMANDS {
        let audio = voice.synthesize(text).unwrap_or_else(|e| panic!("{e}"));
        let speech = skylark::audio::resample(&audio.samples, audio.sample_rate, 16_000)
            .unwrap_or_else(|e| panic!("{e}"));
        let pcm = [vec![0.0; pre], speech, vec![0.0; post]].concat();
        let path = dir.join(format!("{name}.wav"));
        skylark::audio::write_wav(&path, &pcm, 16_000).unwrap_or_else(|e| panic!("{e}"));
        let samples = skylark::audio::read_wav(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .len();
        eprintln!("clip {name}: {:.2} s {text:?}", samples as f64 / 16_000.0);
        clips.push(Clip {
            name: name.to_string(),
            path,
            samples,
        });
    }
    let jfk = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio/jfk.wav");
    let samples = skylark::audio::read_wav(&jfk)
        .unwrap_or_else(|e| panic!("{e}"))
        .len();
    clips.push(Clip {
        name: "jfk".into(),
        path: jfk,
        samples,
    });
    clips
}

/// The skylark side, in its own process so its peak RSS is measured like whisper-cli's.
fn worker(job: &str) {
    let job: Value = serde_json::from_str(job).expect("worker job");
    let model = PathBuf::from(job["model"].as_str().expect("model"));
    let wav = PathBuf::from(job["wav"].as_str().expect("wav"));
    let audio_ctx = match job["mode"].as_str() {
        Some("full") => AudioContext::Full,
        _ => AudioContext::default(),
    };
    let audio = skylark::audio::read_wav(&wav).unwrap_or_else(|e| panic!("{e}"));
    let rss_before_kb = proc::proc_status_kb("VmRSS:");
    let opts = AsrOptions {
        threads: THREADS,
        language: "en".into(),
        ..AsrOptions::default()
    };
    let recognizer = WhisperRecognizer::load(&model, &opts).unwrap_or_else(|e| panic!("{e}"));
    let topts = TranscribeOptions {
        audio_ctx,
        ..TranscribeOptions::default()
    };
    let mut times = Vec::new();
    let mut text = String::new();
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let tr = recognizer
            .transcribe(&audio, &topts)
            .unwrap_or_else(|e| panic!("{e}"));
        times.push(t.elapsed().as_secs_f64() * 1e3);
        text = tr.text;
    }
    let hwm_kb = proc::proc_status_kb("VmHWM:");
    println!(
        "{}",
        json!({"rss_before_kb": rss_before_kb, "hwm_kb": hwm_kb, "cold_ms": times[0], "warm_ms": times[1], "text": text})
    );
}

fn mb(kb: i64) -> f64 {
    kb as f64 / 1024.0
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<17} {:>5} {:>4} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>5} {:>5} {:>5} {:>5} | {:>6} {:>6} {:>12} {:>12}",
        "clip", "dur s", "ac", "cli ms", "cli-ac", "sky full", "sky fit", "full/cli", "fit/cli", "fit/cliac",
        "RTF c", "c-ac", "full", "fit", "RSS c", "c-ac", "sky full(+Δ)", "sky fit(+Δ)"
    );
    for r in rows {
        let m: Vec<f64> = r.ms.iter().map(|v| median(v)).collect();
        let rtf = |ms: f64| ms / 1e3 / r.secs;
        println!(
            "{:<17} {:>5.2} {:>4} | {:>8.0} {:>8.0} {:>8.0} {:>8.0} | {:>8.2} {:>8.2} {:>8.2} | {:>5.3} {:>5.3} {:>5.3} {:>5.3} | {:>6.0} {:>6.0} {:>5.0} (+{:>4.0}) {:>5.0} (+{:>4.0})",
            r.name, r.secs, r.ac, m[0], m[1], m[2], m[3], m[2] / m[0], m[3] / m[0], m[3] / m[1],
            rtf(m[0]), rtf(m[1]), rtf(m[2]), rtf(m[3]),
            mb(r.rss_kb[0]), mb(r.rss_kb[1]), mb(r.rss_kb[2]), mb(r.incr_kb[0]), mb(r.rss_kb[3]), mb(r.incr_kb[1]),
        );
    }
    println!("(ms: median per call; RTF = ms / clip length; RSS in MB: whole-process peak from wait4, Δ = skylark's rise over load + 2 transcriptions)");
    println!("skylark first call after load (cold), median ms:");
    for r in rows {
        println!(
            "  {:<17} full {:>6.0}  fit {:>6.0}",
            r.name,
            median(&r.cold_ms[0]),
            median(&r.cold_ms[1])
        );
    }
    println!("transcripts:");
    for r in rows {
        let labels = [
            "whisper-cli",
            "whisper-cli -ac",
            "skylark full",
            "skylark fit",
        ];
        for (label, text) in labels.iter().zip(&r.text) {
            println!("  {:<17} {:<16} {text}", r.name, label);
        }
    }
}

/// Both whisper.cpp builds must differ only in version, not in how ggml was compiled.
fn print_build_check(dir: &Path) {
    let cli_cache = whisper_cli::build_dir(dir).join("CMakeCache.txt");
    let cli_version = whisper_cli::whisper_cpp_version(&whisper_cli::source_dir(dir))
        .unwrap_or_else(|| "?".into());
    let Some(ours) = whisper_cli::whisper_rs_sys_cache() else {
        println!("whisper-cli: whisper.cpp {cli_version}; whisper-rs-sys build cache not found, flags not compared");
        return;
    };
    let (Some(a), Some(b)) = (
        whisper_cli::cmake_cache(&cli_cache),
        whisper_cli::cmake_cache(&ours),
    ) else {
        println!("cannot read {} or {}", cli_cache.display(), ours.display());
        return;
    };
    let get =
        |c: &[(String, String)], k: &str| c.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let rs_version = get(&b, "CMAKE_HOME_DIRECTORY")
        .and_then(|d| whisper_cli::whisper_cpp_version(Path::new(&d)))
        .unwrap_or_else(|| "?".into());
    println!(
        "whisper-cli: whisper.cpp {cli_version} (PyPI pywhispercpp 1.5.1), {}",
        whisper_cli::CMAKE_ARGS.join(" ")
    );
    println!(
        "skylark:     whisper.cpp {rs_version} (whisper-rs-sys 0.15, {})",
        ours.display()
    );
    let keys: Vec<&String> = a
        .iter()
        .map(|(k, _)| k)
        .filter(|k| {
            (k.starts_with("GGML_") && !k.contains("-ADVANCED"))
                || *k == "CMAKE_BUILD_TYPE"
                || *k == "BUILD_SHARED_LIBS"
        })
        .collect();
    let (mut same, mut diff, mut only) = (0, Vec::new(), Vec::new());
    for k in keys {
        match (get(&a, k), get(&b, k)) {
            (Some(x), Some(y)) if x == y => same += 1,
            (Some(x), Some(y)) => diff.push(format!("{k}: cli {x} / skylark {y}")),
            _ => only.push(k.as_str()),
        }
    }
    println!(
        "build flags: {same} GGML/build settings equal, {} differ{}",
        diff.len(),
        if diff.is_empty() {
            String::new()
        } else {
            format!(": {}", diff.join("; "))
        }
    );
    if !only.is_empty() {
        println!(
            "  options only whisper.cpp {cli_version} has (backends/features not built): {}",
            only.join(" ")
        );
    }
    println!(
        "C flags: cli {:?} / skylark {:?} (the cc crate adds its own; ggml adds -mavx2 -mfma -mf16c to both)",
        get(&a, "CMAKE_C_FLAGS").unwrap_or_default(),
        get(&b, "CMAKE_C_FLAGS").unwrap_or_default()
    );
}
