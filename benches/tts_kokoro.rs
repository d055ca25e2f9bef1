//! skylark's Kokoro Mandarin voice (Rust G2P + `ort`) against the Python reference
//! (`benches/speech_intent/kokoro_zh.py`: misaki[zh] + onnxruntime, 2 threads) on the same
//! model and voice pack (zm_yunxi, the installed one) and the same texts of 1, 11 and 28+ characters, in one
//! run: `cargo bench --bench tts_kokoro`.
//!
//! Prints, per text: time to first audio (skylark: its first piece, as the speaker plays it;
//! the reference: the whole text, which is how it speaks) and real-time factor (synthesis time
//! / length of the audio, lead and tail silence trimmed on both sides) of each, and their
//! ratios (skylark / reference; under 1 is skylark faster). Medians of
//! `SKYLARK_TTSBENCH_ROUNDS` rounds (default 3), the two alternating text by text, both warmed
//! up first. The reference's files and venv come from `benches/speech_intent/kokoro_setup.sh`
//! (run by this bench; idempotent).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use skylark::tts::kokoro::{KokoroVoice, SAMPLE_RATE};

const TEXTS: &[&str] = &[
    "好。",
    "好的，温度已设为二十二度。",
    "好的，最近的充电站在前方两公里的右侧，现在有四个快充桩空闲，大约五分钟可以到达。",
    "您要去的那家餐厅早上八点开门晚上十点关门所以现在出发完全来得及",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The reference's model folder and python, from the bench's setup script.
fn reference_setup() -> (PathBuf, PathBuf) {
    let out = Command::new("bash")
        .arg(repo().join("benches/speech_intent/kokoro_setup.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run kokoro_setup.sh");
    assert!(out.status.success(), "kokoro_setup.sh failed");
    let python = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    (cache.join("skylark/bench/kokoro-zh"), PathBuf::from(python))
}

struct Reference {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    out: PathBuf,
}

impl Reference {
    fn start(dir: &Path, python: &Path, out: PathBuf) -> Reference {
        let mut child = Command::new(python)
            .arg(repo().join("benches/speech_intent/kokoro_zh.py"))
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kokoro_zh.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Reference {
            _child: child,
            stdin,
            stdout,
            out,
        }
    }

    /// (first audio = total, total, audio length) in seconds.
    fn say(&mut self, text: &str) -> [f64; 3] {
        let request = serde_json::json!({"text": text, "voice": "zm_yunxi", "out": self.out});
        let t0 = Instant::now();
        writeln!(self.stdin, "{request}").expect("write request");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read answer");
        let total = t0.elapsed().as_secs_f64();
        assert_eq!(line.trim(), "ok", "kokoro_zh.py: {line}");
        let bytes = std::fs::metadata(&self.out).map_or(0, |m| m.len());
        [total, total, bytes as f64 / 4.0 / f64::from(SAMPLE_RATE)]
    }
}

fn skylark_say(voice: &mut KokoroVoice, text: &str) -> [f64; 3] {
    let t0 = Instant::now();
    let mut first = None;
    let mut audio = 0.0;
    let pause = f64::from(voice.sentence_pause_secs);
    let mut ended_sentence = false;
    voice
        .synthesize_each(text, |a, ends_sentence| {
            first.get_or_insert_with(|| t0.elapsed().as_secs_f64());
            if ended_sentence {
                audio += pause;
            }
            ended_sentence = ends_sentence;
            audio += f64::from(a.duration_secs());
            true
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let total = t0.elapsed().as_secs_f64();
    [first.unwrap_or(total), total, audio]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("SKYLARK_TTSBENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let models = skylark::models::default_models_dir();
    skylark::onnx::init(&models).unwrap_or_else(|e| panic!("{e}"));
    let [model, vocab, pack] = [
        "tts/kokoro/kokoro-v1.0.int8.onnx",
        "tts/kokoro/vocab.json",
        "tts/kokoro/zm_yunxi.bin",
    ]
    .map(|f| models.join(f));
    assert!(
        model.is_file() && pack.is_file(),
        "{} is missing: run `skylark models fetch kokoro-zh`",
        model.display()
    );
    let (dir, python) = reference_setup();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut reference = Reference::start(&dir, &python, tmp.path().join("out.f32"));
    let mut voice = KokoroVoice::load(&model, &vocab, &pack).unwrap_or_else(|e| panic!("{e}"));
    skylark::tts::zh_g2p::warm();
    skylark_say(&mut voice, "你好。");
    reference.say("你好。");

    let mut ours = vec![Vec::new(); TEXTS.len()];
    let mut theirs = vec![Vec::new(); TEXTS.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        for (i, text) in TEXTS.iter().enumerate() {
            ours[i].push(skylark_say(&mut voice, text));
            theirs[i].push(reference.say(text));
        }
    }
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "skylark vs kokoro_zh.py (misaki 0.9.4 + onnxruntime), Kokoro-82M v1.0 int8, zm_yunxi, \
         {rounds} rounds (medians), {threads} cores\n"
    );
    println!(
        "{:>5}  {:>24}  {:>7}  {:>15}  {:>7}  {:>13}",
        "chars", "first audio ms (s / ref)", "ratio", "RTF (s / ref)", "ratio", "audio s (s/r)"
    );
    for (i, text) in TEXTS.iter().enumerate() {
        let col = |runs: &[[f64; 3]], k: usize| median(runs.iter().map(|r| r[k]).collect());
        let rtf = |runs: &[[f64; 3]]| median(runs.iter().map(|r| r[1] / r[2].max(1e-9)).collect());
        let (f_s, f_r) = (col(&ours[i], 0), col(&theirs[i], 0));
        let (r_s, r_r) = (rtf(&ours[i]), rtf(&theirs[i]));
        println!(
            "{:>5}  {:>11.0} / {:>10.0}  {:>6.2}x  {:>6.3} / {:>6.3}  {:>6.2}x  {:>5.2} / {:>5.2}",
            text.chars()
                .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
                .count(),
            f_s * 1000.0,
            f_r * 1000.0,
            f_s / f_r,
            r_s,
            r_r,
            r_s / r_r,
            col(&ours[i], 2),
            col(&theirs[i], 2)
        );
    }
}
