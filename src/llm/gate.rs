//! The answer gate: a lite model's answer is judged sentence by sentence as it streams, and
//! a sentence that fails is never handed out. What it reads:
//!
//! - **confidence**: the mean log-probability of the sentence's tokens (the model's own
//!   confidence in what it wrote; nonsense is written with many unlikely tokens);
//! - **script**: the share of the sentence's letters written in the question's script (Han
//!   for a Mandarin question, Latin for an English one);
//! - **repetition**: the share of repeated word (Latin) / character (Han) trigrams in the
//!   answer so far, and a sentence said twice;
//! - **echo**: the share of a sentence's word / character pairs found in the question (a
//!   small model often just says the question back, above all in Mandarin), or an answer
//!   that opens with a question;
//! - **length**: an empty answer, or one cut off mid-sentence by the token budget or a loop.
//!
//! Pure: the decoder hands it text and [`TokenScore`]s; it answers what may be said. The
//! first sentence is given out as soon as it passed, so speech can start early; a sentence
//! that fails ends the answer there (what passed before it stands).

use super::{FinishReason, TokenScore};
use crate::engine::{GateReason, Verdict};
use crate::nlu::normalize::{is_cjk, units};
use crate::nlu::Language;

/// The gate's thresholds (`llm.gate_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct GateSettings {
    /// Judge answers at all; off: every answer is spoken as the model wrote it.
    pub enabled: bool,
    /// A sentence's tokens must have at least this mean log-probability (nats, ≤ 0).
    pub min_logprob: f32,
    /// At least this share of a sentence's letters must be in the question's script.
    pub min_script_share: f32,
    /// At most this share of the answer's trigrams may repeat an earlier one.
    pub max_repetition: f32,
    /// At most this share of a sentence's word / character pairs may come from the question.
    pub max_echo: f32,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            min_logprob: -0.43,
            min_script_share: 0.5,
            max_repetition: 0.5,
            max_echo: 0.95,
        }
    }
}

/// The writing system an answer is expected in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Han (CJK) characters.
    Han,
    /// Latin letters.
    Latin,
}

/// The script the question is written in (its majority of letters), else that of the
/// turn's language (`zh` → Han, anything else → Latin).
pub fn question_script(question: &str, language: &Language) -> Script {
    let (han, latin) = letters(question);
    if han > latin {
        Script::Han
    } else if latin > han {
        Script::Latin
    } else if language.primary() == "zh" {
        Script::Han
    } else {
        Script::Latin
    }
}

/// (CJK characters, Latin letters) in `text`.
fn letters(text: &str) -> (usize, usize) {
    let mut han = 0;
    let mut latin = 0;
    for c in text.chars() {
        if is_cjk(c) {
            han += 1;
        } else if c.is_alphabetic() && (c.is_ascii() || ('\u{C0}'..='\u{24F}').contains(&c)) {
            latin += 1;
        }
    }
    (han, latin)
}

/// Share of the letters of `text` written in `script` (1 when it has no letters).
pub fn script_share(text: &str, script: Script) -> f32 {
    let (han, latin) = letters(text);
    let other = text
        .chars()
        .filter(|&c| c.is_alphabetic() && !is_cjk(c))
        .count()
        .saturating_sub(latin);
    let total = han + latin + other;
    if total == 0 {
        return 1.0;
    }
    let mine = match script {
        Script::Han => han,
        Script::Latin => latin,
    };
    mine as f32 / total as f32
}

/// Share of the trigrams of `text` (in [`units`]) that repeat an earlier one: 0 for text
/// that never repeats itself, towards 1 for a loop.
pub fn repetition(text: &str) -> f32 {
    let u = units(text);
    if u.len() < 4 {
        return 0.0;
    }
    let grams: Vec<&[String]> = u.windows(3).collect();
    let mut seen = std::collections::HashSet::with_capacity(grams.len());
    let repeated = grams.iter().filter(|g| !seen.insert(**g)).count();
    repeated as f32 / grams.len() as f32
}

/// Share of the pairs of [`units`] of `sentence` that are pairs of `question` too.
pub fn echo(sentence: &str, question: &str) -> f32 {
    let s = units(sentence);
    if s.len() < 2 {
        return 0.0;
    }
    let q = units(question);
    let pairs: std::collections::HashSet<&[String]> = q.windows(2).collect();
    let found = s.windows(2).filter(|p| pairs.contains(p)).count();
    found as f32 / (s.len() - 1) as f32
}

/// The measures of one sentence (and of the answer up to it, for repetition).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentenceMeasures {
    pub mean_logprob: f32,
    pub mean_entropy: f32,
    pub script_share: f32,
    pub repetition: f32,
    pub echo: f32,
    pub tokens: usize,
}

impl SentenceMeasures {
    pub fn of(
        sentence: &str,
        scores: &[TokenScore],
        answer_so_far: &str,
        question: &str,
        script: Script,
    ) -> Self {
        let n = scores.len().max(1) as f32;
        let finite = |v: f32| if v.is_finite() { v } else { -30.0 };
        Self {
            mean_logprob: scores.iter().map(|s| finite(s.logprob)).sum::<f32>() / n,
            mean_entropy: scores.iter().map(|s| s.entropy).sum::<f32>() / n,
            script_share: script_share(sentence, script),
            repetition: repetition(answer_so_far),
            echo: echo(sentence, question),
            tokens: scores.len(),
        }
    }

    /// Why this sentence fails under `s`, if it does.
    pub fn fails(&self, s: &GateSettings) -> Option<GateReason> {
        if self.script_share < s.min_script_share {
            Some(GateReason::WrongLanguage)
        } else if self.repetition > s.max_repetition {
            Some(GateReason::Repetition)
        } else if self.echo > s.max_echo {
            Some(GateReason::Echo)
        } else if self.mean_logprob < s.min_logprob {
            Some(GateReason::LowConfidence)
        } else {
            None
        }
    }
}

/// What the decoder should do after a [`SentenceGate::push`].
#[derive(Debug, Clone, PartialEq)]
pub enum GateStep {
    /// Nothing new may be said yet.
    Hold,
    /// These sentences passed: hand them out.
    Say(String),
    /// A sentence failed: stop generating.
    Stop,
}

/// The gate over one streaming answer.
#[derive(Debug)]
pub struct SentenceGate {
    settings: GateSettings,
    question: String,
    script: Script,
    /// Text of the sentence being written, and its tokens' scores.
    pending: String,
    pending_scores: Vec<TokenScore>,
    /// What passed (and was handed out).
    said: String,
    sentences: Vec<String>,
    said_scores: Vec<TokenScore>,
    last: Option<SentenceMeasures>,
    rejected: Option<GateReason>,
}

impl SentenceGate {
    pub fn new(question: &str, language: &Language, settings: GateSettings) -> Self {
        Self {
            script: question_script(question, language),
            question: question.to_string(),
            settings,
            pending: String::new(),
            pending_scores: Vec::new(),
            said: String::new(),
            sentences: Vec::new(),
            said_scores: Vec::new(),
            last: None,
            rejected: None,
        }
    }

    /// Take the next piece of the answer (and the score of the token that made it).
    pub fn push(&mut self, text: &str, score: Option<TokenScore>) -> GateStep {
        if self.rejected.is_some() {
            return GateStep::Stop;
        }
        self.pending.push_str(text);
        if let Some(s) = score {
            self.pending_scores.push(s);
        }
        if !self.settings.enabled {
            return match std::mem::take(&mut self.pending) {
                t if t.is_empty() => GateStep::Hold,
                t => {
                    self.said.push_str(&t);
                    self.said_scores.append(&mut self.pending_scores);
                    GateStep::Say(t)
                }
            };
        }
        let mut out = String::new();
        while let Some(end) = super::stream::sentences_end(&self.pending, 1) {
            // The sentence's tokens: all pushed so far but those of text after its end (a
            // token holding "." and the next word is counted to this sentence).
            let rest = self.pending.split_off(end);
            let sentence = std::mem::replace(&mut self.pending, rest);
            let scores = std::mem::take(&mut self.pending_scores);
            if self.judge(&sentence, &scores).is_some() {
                return if out.is_empty() {
                    GateStep::Stop
                } else {
                    // What passed before the failing sentence is still said; generation
                    // stops at the next push.
                    GateStep::Say(out)
                };
            }
            out.push_str(&sentence);
        }
        if out.is_empty() {
            GateStep::Hold
        } else {
            GateStep::Say(out)
        }
    }

    /// Judge `sentence`; on a pass it joins what was said.
    fn judge(&mut self, sentence: &str, scores: &[TokenScore]) -> Option<GateReason> {
        if sentence.trim().is_empty() {
            return None;
        }
        let so_far = format!("{}{}", self.said, sentence);
        let m = SentenceMeasures::of(sentence, scores, &so_far, &self.question, self.script);
        let norm = |s: &str| {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let said_twice = self.sentences.iter().any(|s| norm(s) == norm(sentence));
        // An answer that opens with a question asks back instead of answering.
        let asks_back = self.sentences.is_empty() && sentence.trim_end().ends_with(['?', '？']);
        let reason = if said_twice {
            Some(GateReason::Repetition)
        } else if asks_back {
            Some(GateReason::Echo)
        } else {
            m.fails(&self.settings)
        };
        tracing::debug!(sentence, ?m, ?reason, "answer gate");
        self.last = Some(m);
        match reason {
            Some(r) => self.rejected = Some(r),
            None => {
                self.said.push_str(sentence);
                self.sentences.push(sentence.to_string());
                self.said_scores.extend_from_slice(scores);
            }
        }
        reason
    }

    /// The generation ended: judge what is left and give the verdict, with any last text
    /// that passed.
    pub fn finish(&mut self, finish: FinishReason) -> (String, Verdict) {
        let mut tail = String::new();
        if self.settings.enabled && self.rejected.is_none() && !self.pending.trim().is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let scores = std::mem::take(&mut self.pending_scores);
            match finish {
                // Cut by the token budget or a loop: a sentence without its end is not said.
                FinishReason::Length | FinishReason::Repetition => {
                    if self.said.trim().is_empty() {
                        self.rejected = Some(if finish == FinishReason::Length {
                            GateReason::CutOff
                        } else {
                            GateReason::Repetition
                        });
                    }
                }
                FinishReason::Cancelled | FinishReason::Stopped => {}
                _ => {
                    if self.judge(&rest, &scores).is_none() {
                        tail = rest;
                    }
                }
            }
        }
        let spoken = !self.said.trim().is_empty();
        let reason = match (self.rejected, spoken) {
            (Some(r), _) => Some(r),
            (None, false) if finish != FinishReason::Cancelled => Some(GateReason::Empty),
            (None, _) => None,
        };
        let n = self.said_scores.len().max(1) as f32;
        let verdict = Verdict {
            passed: spoken,
            reason,
            mean_logprob: if spoken {
                self.said_scores.iter().map(|s| s.logprob).sum::<f32>() / n
            } else {
                self.last.map_or(0.0, |m| m.mean_logprob)
            },
            script_share: self.last.map_or(1.0, |m| m.script_share),
            repetition: self.last.map_or(0.0, |m| m.repetition),
            sentences: self.sentences.len(),
        };
        (tail, verdict)
    }

    /// A sentence failed: nothing more will be said.
    pub fn rejected(&self) -> bool {
        self.rejected.is_some()
    }

    /// Everything said so far.
    pub fn said(&self) -> &str {
        &self.said
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en() -> Language {
        Language::parse("en").unwrap()
    }
    fn zh() -> Language {
        Language::parse("zh-CN").unwrap()
    }
    fn sure() -> Option<TokenScore> {
        Some(TokenScore {
            logprob: -0.1,
            entropy: 0.3,
        })
    }
    fn unsure() -> Option<TokenScore> {
        Some(TokenScore {
            logprob: -3.0,
            entropy: 4.0,
        })
    }

    #[test]
    fn scripts_are_measured_on_letters() {
        assert_eq!(question_script("北京在哪里?", &en()), Script::Han);
        assert_eq!(question_script("where is Paris", &zh()), Script::Latin);
        assert_eq!(question_script("123?", &zh()), Script::Han);
        assert_eq!(script_share("巴黎是法国的首都。", Script::Han), 1.0);
        assert_eq!(script_share("Paris is big.", Script::Han), 0.0);
        assert!(script_share("我喜欢iPhone手机", Script::Han) > 0.4);
        assert_eq!(script_share("42.", Script::Latin), 1.0);
    }

    #[test]
    fn loops_repeat_trigrams() {
        assert_eq!(repetition("The capital of France is Paris."), 0.0);
        let looped = "我可以在你的家族中找到，它可能是在你的家族中找到，它可能是在你的家族中";
        assert!(repetition(looped) > 0.3, "{}", repetition(looped));
    }

    #[test]
    fn saying_the_question_back_is_an_echo() {
        assert_eq!(echo("法国的首都是哪里？", "法国的首都是哪里？"), 1.0);
        assert!(
            echo(
                "The capital of France is Paris.",
                "What is the capital of France?"
            ) < 0.8
        );
        let mut g = SentenceGate::new("熊猫吃什么？", &zh(), Default::default());
        assert_eq!(g.push("熊猫吃什么？", sure()), GateStep::Stop);
        assert_eq!(
            g.finish(FinishReason::Stopped).1.reason,
            Some(GateReason::Echo)
        );
    }

    #[test]
    fn a_confident_sentence_is_said_as_soon_as_it_ends() {
        let mut g = SentenceGate::new("What is the capital of France?", &en(), Default::default());
        assert_eq!(g.push("The capital", sure()), GateStep::Hold);
        assert_eq!(g.push(" of France is Paris", sure()), GateStep::Hold);
        assert_eq!(
            g.push(".", sure()),
            GateStep::Say("The capital of France is Paris.".into())
        );
        let (tail, v) = g.finish(FinishReason::EndOfTurn);
        assert_eq!(tail, "");
        assert!(v.passed && v.reason.is_none() && v.sentences == 1, "{v:?}");
    }

    #[test]
    fn unsure_wrong_script_and_looping_sentences_are_stopped() {
        let mut g = SentenceGate::new("who won the 1998 world cup", &en(), Default::default());
        assert_eq!(g.push("Zorbo the", unsure()), GateStep::Hold);
        assert_eq!(g.push(" Great won it.", unsure()), GateStep::Stop);
        let (_, v) = g.finish(FinishReason::Stopped);
        assert!(
            !v.passed && v.reason == Some(GateReason::LowConfidence),
            "{v:?}"
        );

        let mut g = SentenceGate::new("我想找一家附近的火锅店", &zh(), Default::default());
        assert_eq!(g.push("I can help you find one.", sure()), GateStep::Stop);
        let (_, v) = g.finish(FinishReason::Stopped);
        assert_eq!(v.reason, Some(GateReason::WrongLanguage));

        let mut g = SentenceGate::new("tell me a joke", &en(), Default::default());
        assert!(matches!(g.push("It went home.", sure()), GateStep::Say(_)));
        assert_eq!(g.push(" It went home.", sure()), GateStep::Stop);
        let (_, v) = g.finish(FinishReason::Stopped);
        assert!(
            v.passed && v.reason == Some(GateReason::Repetition),
            "{v:?}"
        );
        assert_eq!(g.said(), "It went home.");
    }

    #[test]
    fn cut_off_and_empty_answers_fail() {
        let mut g = SentenceGate::new("what is love", &en(), Default::default());
        assert_eq!(g.push("Love is a feeling that", sure()), GateStep::Hold);
        let (tail, v) = g.finish(FinishReason::Length);
        assert_eq!(tail, "");
        assert_eq!((v.passed, v.reason), (false, Some(GateReason::CutOff)));

        let mut g = SentenceGate::new("what is love", &en(), Default::default());
        let (_, v) = g.finish(FinishReason::EndOfTurn);
        assert_eq!((v.passed, v.reason), (false, Some(GateReason::Empty)));

        // An answer without a full stop that ended normally is judged whole.
        let mut g = SentenceGate::new("capital of france", &en(), Default::default());
        assert_eq!(g.push("Paris", sure()), GateStep::Hold);
        let (tail, v) = g.finish(FinishReason::EndOfTurn);
        assert_eq!((tail.as_str(), v.passed), ("Paris", true));
    }

    #[test]
    fn a_disabled_gate_passes_everything_through() {
        let s = GateSettings {
            enabled: false,
            ..Default::default()
        };
        let mut g = SentenceGate::new("q", &en(), s);
        assert_eq!(g.push("Zorbo", unsure()), GateStep::Say("Zorbo".into()));
        let (_, v) = g.finish(FinishReason::Length);
        assert!(v.passed && v.reason.is_none());
    }
}
