//! skylark's Piper runner against `piper-tts` (PyPI, the reference runtime) on the same voice
//! (joe medium from the models directory) and the same texts of 1, 11 and 28+ words, in one run:
//! `cargo bench --bench tts_vs_piper`.
//!
//! Prints, per text: time to first audio (skylark: its first piece, as the speaker plays it;
//! piper-tts: its first chunk, one per sentence) and real-time factor (synthesis time / audio
//! length) of each, and their ratios (skylark / piper-tts; under 1 is skylark faster). Medians
//! of `SKYLARK_TTSBENCH_ROUNDS` rounds (default 5), the two alternating round by round, both
//! warmed up first.
//!
//! piper-tts runs in its own venv, `$XDG_CACHE_HOME/skylark/venv-piper`, which this bench
//! creates and fills from `benches/tts_bench/requirements.txt` (pinned) when that file changed
//! since the last install (a stamp in the venv), so a fresh machine needs nothing more.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use skylark::tts::PiperVoice;

const TEXTS: &[&str] = &[
    "Hello.",
    "Turning on the air conditioning and setting the driver side to twenty.",
    "Sure, the nearest charging station is about two kilometers ahead on the right side of the road, and it has four free fast chargers available for you right now.",
    "The restaurant you asked about opens at eight in the morning and closes late in the evening so you still have plenty of time to get there before dinner tonight.",
];

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache"))
        .join("skylark")
}

/// The venv with piper-tts, installed when the requirements changed.
fn piper_python() -> PathBuf {
    let venv = cache_dir().join("venv-piper");
    let python = venv.join("bin/python");
    let requirements =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/tts_bench/requirements.txt");
    let wanted = std::fs::read(&requirements).expect("benches/tts_bench/requirements.txt");
    let stamp = venv.join(".skylark-requirements");
    if std::fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) && python.is_file() {
        return python;
    }
    if !python.is_file() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "python3 -m venv {} failed (apt-get install python3-venv)",
            venv.display()
        );
    }
    eprintln!("installing piper-tts into {} ...", venv.display());
    let ok = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "-r"])
        .arg(&requirements)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "pip install -r {} failed", requirements.display());
    std::fs::write(&stamp, &wanted).expect("write the venv stamp");
    python
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (first audio, total, audio length) in seconds, for each text.
fn skylark_round(voice: &mut PiperVoice) -> Vec<[f64; 3]> {
    TEXTS
        .iter()
        .map(|text| {
            let t0 = Instant::now();
            let mut first = None;
            let mut audio = 0.0;
            let pause = f64::from(voice.sentence_pause_secs);
            let mut pieces_ended_sentence = false;
            voice
                .synthesize_each(text, |a, ends_sentence| {
                    first.get_or_insert_with(|| t0.elapsed().as_secs_f64());
                    if pieces_ended_sentence {
                        audio += pause;
                    }
                    pieces_ended_sentence = ends_sentence;
                    audio += f64::from(a.duration_secs());
                    true
                })
                .unwrap_or_else(|e| panic!("{e}"));
            let total = t0.elapsed().as_secs_f64();
            [first.unwrap_or(total), total, audio]
        })
        .collect()
}

fn piper_round(python: &Path, model: &Path) -> Vec<[f64; 3]> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/tts_bench/piper_run.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(model)
        .arg("1")
        .args(TEXTS)
        .output()
        .expect("run piper_run.py");
    assert!(
        out.status.success(),
        "piper-tts failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("piper_run.py JSON");
    v["results"][0]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let f = |i: usize| r[i].as_f64().unwrap_or(f64::NAN);
            [f(0), f(1), f(2)]
        })
        .collect()
}

fn main() {
    let rounds: usize = std::env::var("SKYLARK_TTSBENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let models = skylark::models::default_models_dir();
    skylark::onnx::init(&models).unwrap_or_else(|e| panic!("{e}"));
    let model = models.join("tts/en_US-joe-medium.onnx");
    assert!(
        model.is_file(),
        "{} is missing: run `skylark models fetch`",
        model.display()
    );
    let python = piper_python();
    let mut voice = PiperVoice::load(&model).unwrap_or_else(|e| panic!("{e}"));
    voice
        .synthesize("Warming up the voice.")
        .unwrap_or_else(|e| panic!("{e}"));

    let mut ours: Vec<Vec<[f64; 3]>> = Vec::new();
    let mut theirs: Vec<Vec<[f64; 3]>> = Vec::new();
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        ours.push(skylark_round(&mut voice));
        theirs.push(piper_round(&python, &model));
    }
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "skylark vs piper-tts 1.3.0, joe medium, {rounds} rounds (medians), {threads} cores\n"
    );
    println!(
        "{:>5}  {:>22}  {:>7}  {:>15}  {:>7}  {:>12}",
        "words", "first audio ms (s / p)", "ratio", "RTF (s / p)", "ratio", "audio s (s/p)"
    );
    for (i, text) in TEXTS.iter().enumerate() {
        let col = |runs: &[Vec<[f64; 3]>], k: usize| median(runs.iter().map(|r| r[i][k]).collect());
        let (f_s, f_p) = (col(&ours, 0), col(&theirs, 0));
        let rtf = |runs: &[Vec<[f64; 3]>]| {
            median(runs.iter().map(|r| r[i][1] / r[i][2].max(1e-9)).collect())
        };
        let (r_s, r_p) = (rtf(&ours), rtf(&theirs));
        let (a_s, a_p) = (col(&ours, 2), col(&theirs, 2));
        println!(
            "{:>5}  {:>10.0} / {:>9.0}  {:>6.2}x  {:>6.3} / {:>6.3}  {:>6.2}x  {:>5.2} / {:>5.2}",
            text.split_whitespace().count(),
            f_s * 1000.0,
            f_p * 1000.0,
            f_s / f_p,
            r_s,
            r_p,
            r_s / r_p,
            a_s,
            a_p
        );
    }
}
