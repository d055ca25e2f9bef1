//! The spoken test set: commands of a grammar spoken by several voices at several speeds,
//! and unrelated speech for false acceptance. Made deterministically from the grammar (its
//! generated sentences, `nlu::Sample`, carry the expected intent and slots) and cached as
//! WAV files under `$XDG_CACHE_HOME/skylark/bench/speech_intent/` (one file per voice and
//! text, named by a hash of both; nothing of it is committed). Noise is added by the bench.
//!
//! Voices: Piper `joe` (the models folder) at its default scales and slower with more
//! variation; espeak-ng `en-us`, `en-gb+f2`, `en-us+m3` at different speeds; for Mandarin
//! espeak-ng `cmn-latn-pinyin` (plain, `+f2`, `+m3`; no registry ships a Mandarin neural voice).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skylark::nlu::{Language, SlotValue};
use skylark::speech::espeak::EspeakVoice;
use skylark::tts::PiperVoice;

/// Silence before and after each utterance, as the listener's pre- and post-roll leave it.
const LEAD_MS: usize = 300;
const TAIL_MS: usize = 300;

#[derive(Debug, Clone, PartialEq)]
pub enum Voice {
    Piper { length: f32, noise: f32 },
    Espeak { voice: &'static str, wpm: u32 },
}

impl Voice {
    pub fn name(&self) -> String {
        match self {
            Voice::Piper { length, noise } => format!("piper-joe(l{length},n{noise})"),
            Voice::Espeak { voice, wpm } => format!("espeak({voice},{wpm})"),
        }
    }
}

pub fn voices(language: &Language) -> Vec<Voice> {
    if language.primary() == "zh" {
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

/// Speaks texts, caching each (voice, text) as a WAV in `dir`.
pub struct Synth {
    dir: PathBuf,
    piper: Option<PiperVoice>,
    piper_path: PathBuf,
}

impl Synth {
    pub fn new(dir: &Path, models_dir: &Path) -> Synth {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Synth {
            dir: dir.to_path_buf(),
            piper: None,
            piper_path: models_dir.join("tts/en_US-joe-medium.onnx"),
        }
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
    all_voices: bool,
    synth: &mut Synth,
) -> Vec<Utterance> {
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
        if *n >= per_intent
            || !long_enough(&s.text)
            || own
                .map(|m| m.intent != s.intent || m.slots != s.slots)
                .unwrap_or(true)
        {
            continue;
        }
        *n += 1;
        picked.push(s);
    }
    let voices = voices(language);
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
pub fn unrelated_speech(language: &Language, synth: &mut Synth) -> Vec<Utterance> {
    let voices = voices(language);
    unrelated(language)
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

/// A long stretch of babble: four voices reading unrelated sentences over each other.
pub fn babble(synth: &mut Synth) -> Vec<f32> {
    let en = Language::english();
    let zh = Language::mandarin();
    let mut tracks = Vec::new();
    for (k, (lang, v)) in [(&en, 1usize), (&zh, 0), (&en, 3), (&en, 4)]
        .into_iter()
        .enumerate()
    {
        let voice = voices(lang)[v].clone();
        let mut track = Vec::new();
        for t in unrelated(lang).iter().cycle().skip(k * 3).take(5) {
            track.extend(synth.speak(&voice, t));
        }
        tracks.push(track);
    }
    let len = tracks.iter().map(Vec::len).max().unwrap_or(0);
    super::noise::overlap(&tracks, len)
}
