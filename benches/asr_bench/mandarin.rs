//! Mandarin accuracy: skylark's character error rate beside whisper-cli's on the same model
//! (whisper base), clips and prompt.
//!
//! Clips: the two real Mandarin recordings of `tests/data/audio` (8 kHz neural TTS, resampled
//! to 16 kHz once and written out, so both programs read the same samples) and read sentences
//! spoken by espeak-ng (`cmn-latn-pinyin`, two voices and speeds) — general sentences, not
//! commands, so the settings are not tuned to the catalog. whisper-cli runs with its defaults
//! (beam 5, best-of 5, temperature fallback) and the Simplified-Chinese prompt. skylark runs
//! as users run it (`WhisperTranscriber`, the `transcribe --lang zh-CN` path) and, to show why
//! its settings are what they are, with each decoding choice on its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use skylark::asr::{AudioContext, Search, TranscribeOptions, WhisperRecognizer};

use super::proc;

/// What whisper-cli is given as `--prompt`, the same words skylark primes zh-CN with.
pub const ZH_PROMPT: &str = "以下是普通话的句子。";

/// Read Mandarin that is not a command (held out from any tuning on the catalog).
const SENTENCES: &[&str] = &[
    "今天天气很好，我们去公园散步吧。",
    "这家餐厅的菜非常好吃。",
    "明天上午九点开会。",
    "我想买一张去北京的火车票。",
    "他每天早上六点起床跑步。",
    "请把这本书放在桌子上。",
    "这个城市的交通越来越方便了。",
    "周末我们一起去看电影吧。",
];
/// espeak-ng voices and speeds (words per minute).
const VOICES: &[(&str, u32)] = &[("cmn-latn-pinyin", 150), ("cmn-latn-pinyin+f2", 125)];

pub struct ZhClip {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

/// The decoding settings compared: the name shown and the options. The first is the old
/// default (greedy, trimmed window), kept to show what changed.
pub fn configs() -> Vec<(&'static str, TranscribeOptions)> {
    let base = |audio_ctx, search| TranscribeOptions {
        language: Some("zh-CN".into()),
        audio_ctx,
        search,
        ..TranscribeOptions::default()
    };
    let fit = AudioContext::Fit { margin: 64 };
    let beam = Search::Beam { beam_size: 5 };
    let mut out = vec![("greedy+fit (old)", base(fit, Search::Greedy))];
    // Each choice on its own (`SKYLARK_ASRBENCH_ZH_SWEEP=1`): doubles the run.
    if std::env::var("SKYLARK_ASRBENCH_ZH_SWEEP").is_ok_and(|v| v == "1") {
        out.push(("greedy+full", base(AudioContext::Full, Search::Greedy)));
        out.push(("beam5+fit", base(fit, beam)));
        out.push(("beam5+full", base(AudioContext::Full, beam)));
    }
    out
}

pub fn make_clips(dir: &Path) -> Vec<ZhClip> {
    std::fs::create_dir_all(dir).expect("clip dir");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audio");
    let mut clips = Vec::new();
    for (name, text) in [
        ("zh_liliana", "林美丽最美丽、最漂亮、最可爱！"),
        (
            "zh_numbers",
            "35年前，他于长沙出生, 在长白山长大。9年前他当上了银行的领导，主管行政。1天前莅临我行指导工作。",
        ),
    ] {
        let samples = skylark::audio::read_wav(&data.join(format!("{name}.wav"))).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join(format!("{name}.wav"));
        skylark::audio::write_wav(&path, &samples, 16_000).unwrap_or_else(|e| panic!("{e}"));
        clips.push(ZhClip { name: name.into(), path, text: text.into() });
    }
    for (v, (voice, wpm)) in VOICES.iter().enumerate() {
        let espeak = skylark::speech::espeak::EspeakVoice::check("espeak-ng", voice)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_speed(*wpm);
        for (i, text) in SENTENCES.iter().enumerate() {
            let (samples, rate) = espeak
                .synthesize(text, &|| false)
                .unwrap_or_else(|e| panic!("{e}"));
            let pcm =
                skylark::audio::resample(&samples, rate, 16_000).unwrap_or_else(|e| panic!("{e}"));
            let path = dir.join(format!("espeak{v}_{i}.wav"));
            skylark::audio::write_wav(&path, &pcm, 16_000).unwrap_or_else(|e| panic!("{e}"));
            clips.push(ZhClip {
                name: format!("espeak{v}_{i}"),
                path,
                text: text.to_string(),
            });
        }
    }
    clips
}

/// whisper-cli's transcript of `clip` (defaults: beam 5, best-of 5, temperature fallback).
pub fn whisper_cli(cli: &Path, model: &Path, clip: &ZhClip, threads: usize, tmp: &Path) -> String {
    let mut cmd = Command::new(cli);
    cmd.arg("-m").arg(model).arg("-f").arg(&clip.path);
    cmd.args([
        "-t",
        &threads.to_string(),
        "-l",
        "zh",
        "-nt",
        "--prompt",
        ZH_PROMPT,
    ]);
    match proc::run_measured(&mut cmd, tmp, super::TIMEOUT) {
        Ok(m) => m.stdout.split_whitespace().collect::<Vec<_>>().join(" "),
        Err(e) => format!("(failed: {e})"),
    }
}

/// The skylark side in one worker process: every clip with every config of [`configs`], then
/// with the transcriber users run (`default`). Prints one JSON object.
pub fn worker(job: &Value, threads: usize) {
    let model = PathBuf::from(job["model"].as_str().expect("model"));
    let wavs: Vec<PathBuf> = job["wavs"]
        .as_array()
        .expect("wavs")
        .iter()
        .filter_map(|v| v.as_str())
        .map(PathBuf::from)
        .collect();
    let audio: Vec<Vec<f32>> = wavs
        .iter()
        .map(|p| skylark::audio::read_wav(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let opts = skylark::asr::AsrOptions {
        threads,
        language: "zh-CN".into(),
        ..Default::default()
    };
    let recognizer = WhisperRecognizer::load(&model, &opts).unwrap_or_else(|e| panic!("{e}"));
    let mut out = serde_json::Map::new();
    for (name, topts) in configs() {
        let mut texts = Vec::new();
        let mut ms = 0.0;
        for a in &audio {
            // The transcriber's 0.3 s of lead-in silence, as on the default path.
            let padded = [vec![0.0; 4_800], a.clone()].concat();
            let t = std::time::Instant::now();
            let tr = recognizer
                .transcribe(&padded, &topts)
                .unwrap_or_else(|e| panic!("{e}"));
            ms += t.elapsed().as_secs_f64() * 1e3;
            texts.push(tr.text);
        }
        out.insert(name.to_string(), json!({"texts": texts, "ms": ms}));
    }
    drop(recognizer);
    let mut config = skylark::config::Config::default();
    config.asr.threads = threads;
    let models_dir = model
        .parent()
        .and_then(Path::parent)
        .expect("models dir")
        .to_path_buf();
    let zh = skylark::nlu::Language::mandarin();
    let transcriber =
        skylark::speech::WhisperTranscriber::load_for(&config, &models_dir, Some(&zh))
            .unwrap_or_else(|e| panic!("{e}"));
    let mut texts = Vec::new();
    let mut ms = 0.0;
    for a in &audio {
        use skylark::engine::Transcriber;
        let t = std::time::Instant::now();
        let text = transcriber
            .transcribe(
                &skylark::engine::Audio { samples: a.clone() },
                &zh,
                &skylark::engine::CancelToken::new(),
            )
            .unwrap_or_else(|e| panic!("{}", e.0));
        ms += t.elapsed().as_secs_f64() * 1e3;
        texts.push(text);
    }
    out.insert(
        "skylark (default)".into(),
        json!({"texts": texts, "ms": ms}),
    );
    println!("{}", Value::Object(out));
}

/// Runs both sides on the Mandarin clips and prints the CER table; returns the verdict line.
pub fn run(
    cli: &Path,
    models_dir: &Path,
    dir: &Path,
    me: &Path,
    worker_env: &str,
    threads: usize,
    tmp: &Path,
) -> String {
    let model = models_dir.join("whisper/ggml-base-q8_0.bin");
    let clips = make_clips(&dir.join("zh_clips"));
    println!("\n== Mandarin CER: whisper base, {} clips (2 real recordings + espeak-ng read sentences), {threads} threads ==", clips.len());
    let mut cli_texts = Vec::new();
    for c in &clips {
        let text = whisper_cli(cli, &model, c, threads, tmp);
        // Printed as it comes: on a busy machine the run is long.
        eprintln!(
            "whisper-cli {} CER {:.3} {text}",
            c.name,
            skylark::asr::cer(&c.text, &text)
        );
        cli_texts.push(text);
    }
    let job = json!({"mode": "zh_cer", "model": model, "wavs": clips.iter().map(|c| c.path.clone()).collect::<Vec<_>>()}).to_string();
    eprintln!("skylark Mandarin worker ({} configs)", configs().len() + 1);
    let m = proc::run_measured(
        Command::new(me).env(worker_env, job),
        tmp,
        // `SKYLARK_ASRBENCH_ZH_TIMEOUT` seconds (default 3600): at load 10+ on 2 cores one
        // full-window beam decode of base takes tens of seconds.
        std::time::Duration::from_secs(
            std::env::var("SKYLARK_ASRBENCH_ZH_TIMEOUT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3600),
        ),
    )
    .unwrap_or_else(|e| panic!("Mandarin worker: {e}"));
    let v: Value = serde_json::from_str(m.stdout.trim())
        .unwrap_or_else(|e| panic!("worker said {:?}: {e}", m.stdout));
    let total = |texts: &[String]| -> (f64, Vec<f64>) {
        let (mut edits, mut len) = (0, 0);
        let per: Vec<f64> = clips
            .iter()
            .zip(texts)
            .map(|(c, t)| {
                let (e, l) = skylark::asr::char_edits(&c.text, t);
                edits += e;
                len += l;
                skylark::asr::cer(&c.text, t)
            })
            .collect();
        (edits as f64 / len.max(1) as f64, per)
    };
    let mut rows: Vec<(String, Vec<String>, Option<f64>)> =
        vec![("whisper-cli (beam 5, prompt)".into(), cli_texts, None)];
    let mut names: Vec<String> = configs().iter().map(|(n, _)| n.to_string()).collect();
    names.push("skylark (default)".into());
    for n in &names {
        let texts: Vec<String> = v[n]["texts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        rows.push((format!("skylark {n}"), texts, v[n]["ms"].as_f64()));
    }
    println!(
        "{:<34} {:>7} {:>7} {:>7} {:>9}",
        "decoder", "CER", "real", "espeak", "ms/clip"
    );
    let mut cer_of = Vec::new();
    for (name, texts, ms) in &rows {
        let (all, per) = total(texts);
        let real: f64 = per[..2].iter().sum::<f64>() / 2.0;
        let synth: f64 = per[2..].iter().sum::<f64>() / (per.len() - 2).max(1) as f64;
        let ms = ms
            .map(|m| format!("{:.0}", m / clips.len() as f64))
            .unwrap_or_else(|| "-".into());
        println!(
            "{name:<34} {:>6.1}% {:>6.1}% {:>6.1}% {ms:>9}",
            all * 100.0,
            real * 100.0,
            synth * 100.0
        );
        cer_of.push(all);
    }
    println!("(CER over all characters of all clips; `real`/`espeak`: mean per-clip CER of the 2 recordings / the espeak-ng clips)");
    println!("transcripts (reference, whisper-cli, skylark default):");
    let last = rows.len() - 1;
    for (i, c) in clips.iter().enumerate() {
        println!(
            "  {:<12} {}\n  {:<12} {}\n  {:<12} {}",
            c.name,
            c.text,
            "",
            rows[0].1[i],
            "",
            rows[last].1.get(i).map(String::as_str).unwrap_or("")
        );
    }
    let (cli, ours) = (cer_of[0], cer_of[last]);
    format!(
        "Mandarin CER skylark {:.1}% vs whisper-cli {:.1}% ({})",
        ours * 100.0,
        cli * 100.0,
        if ours <= cli {
            "ok ≤ whisper-cli"
        } else {
            "MISSED > whisper-cli"
        }
    )
}
