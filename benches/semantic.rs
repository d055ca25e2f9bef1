//! The semantic tier against the TF-IDF ranking and the lite LLM, in one run:
//! `cargo bench --bench semantic`.
//!
//! Data: the hand-written paraphrase sets `tests/data/paraphrases/{en,zh-CN}.tsv` (columns
//! split / text / intent / slots; `dev` rows fit the thresholds, `test` rows are reported), or
//! the directory in $SKYLARK_PARAPHRASES; without them `tests/data/llm/intents.tsv` (all rows
//! both fit and report — said in the output).
//!
//! Every sentence goes to the grammar first; those it does not match go to each tier:
//! - semantic: nearest grammar sentences by multilingual-e5-small (threshold and margin
//!   fitted on dev), slots from the sentence (`Recognizer::stated_slots`);
//! - TF-IDF: the same decision over `nlu::SimilarityIndex` (the LLM's example ranking), its
//!   own threshold and margin fitted on dev;
//! - LLM alone (SKYLARK_BENCH_LLM=1, slow): the lite LLM's intent fallback as the engine runs it;
//! - semantic + LLM (with SKYLARK_BENCH_LLM=1): the engine's order, the LLM filling
//!   required slots of a semantic intent and taking what semantic leaves.
//!
//! The semantic and LLM rows are given twice: with the config's defaults ("as shipped") and
//! with thresholds fitted on the dev rows — the semantic tier's first, then the LLM's
//! (`llm.intent_threshold`, `llm.intent_retrieval_threshold`) behind it. The LLM's opinions
//! are computed once per sentence (`LiteLlm::intent_opinions`) and each threshold pair
//! decides on them (`Opinions::decide`), as `IntentEngine::recognize` does.
//!
//! Scores: intent right (the expected intent, or none for a `none` row), wrong actions (an
//! intent other than the expected one acted on), slots right (every expected slot has its
//! value, among rows whose intent is right and that expect slots).
//! Speed: p50 / p99 ms per sentence of the semantic stage (embedding + kNN + slots), index
//! build time per language, RSS added by the model and indexes. SKYLARK_BENCH_THREADS sets
//! the model's threads (default: `semantic.threads`); SKYLARK_BENCH_SHOW=1 prints each
//! reported row the grammar missed with the semantic tier's answer under the shipped
//! settings and its nearest sentence.

#[path = "asr_bench/proc.rs"]
#[allow(dead_code)]
mod proc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use skylark::config::Config;
use skylark::engine::CancelToken;
use skylark::llm::{LlmIntent, Opinions};
use skylark::nlu::{
    DialogueContext, Grammar, IntentCatalog, Language, Recognizer, SimilarityIndex, SlotValue,
};
use skylark::semantic::{
    decide, Decision, Embedder, EmbedderOptions, Neighbour, SemanticIndex, SemanticSettings,
    SemanticTier,
};

struct Row {
    dev: bool,
    text: String,
    intent: String,
    slots: BTreeMap<String, serde_json::Value>,
}

fn read_rows(dir: &Path, lang: &str) -> Option<Vec<Row>> {
    let text = std::fs::read_to_string(dir.join(format!("{lang}.tsv"))).ok()?;
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 || line.starts_with('#') {
            continue;
        }
        let slots = f
            .get(3)
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(s).ok())
            .unwrap_or_default();
        rows.push(Row {
            dev: f[0] == "dev",
            text: f[1].to_string(),
            intent: f[2].trim().to_string(),
            slots,
        });
    }
    Some(rows)
}

/// `tests/data/llm/intents.tsv`: language / sentence / intent (`none`), no split.
fn fallback_rows(lang: &str) -> Vec<Row> {
    let text = include_str!("../tests/data/llm/intents.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            // The set tags rows by primary subtag (`zh`), the bench by language (`zh-CN`).
            (f.len() >= 3 && Some(f[0]) == lang.split('-').next()).then(|| Row {
                dev: true,
                text: f[1].to_string(),
                intent: if f[2] == "none" {
                    String::new()
                } else {
                    f[2].to_string()
                },
                slots: BTreeMap::new(),
            })
        })
        .collect()
}

fn slot_equal(want: &serde_json::Value, got: &SlotValue) -> bool {
    match want {
        serde_json::Value::Number(n) => got
            .as_f64()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| (a - b).abs() < 1e-6),
        serde_json::Value::String(s) => got.as_str().is_some_and(|g| g.eq_ignore_ascii_case(s)),
        serde_json::Value::Bool(b) => got.as_str().is_some_and(|g| g == b.to_string()),
        _ => false,
    }
}

/// The lite LLM's opinions on one sentence the grammar missed.
struct LlmView {
    /// On the whole catalog.
    alone: Opinions,
    /// Constrained to the semantic tier's nearest intent (with that one-intent catalog), when
    /// the sentence leaves a slot of it unstated.
    fill: Option<(String, IntentCatalog, Opinions)>,
}

/// A threshold, or "never" when above every similarity and probability.
fn never(t: f64) -> String {
    if t > 1.0 {
        "never".into()
    } else {
        format!("{t:.2}")
    }
}

/// What one method said for one row.
#[derive(Clone, Default)]
struct Answer {
    intent: String,
    slots: BTreeMap<String, SlotValue>,
}

#[derive(Default, Clone, Copy)]
struct Score {
    n: usize,
    right: usize,
    wrong_action: usize,
    slot_rows: usize,
    slots_right: usize,
}

impl Score {
    fn add(&mut self, row: &Row, a: &Answer) {
        self.n += 1;
        if a.intent == row.intent {
            self.right += 1;
            if !row.slots.is_empty() {
                self.slot_rows += 1;
                if row
                    .slots
                    .iter()
                    .all(|(k, v)| a.slots.get(k).is_some_and(|g| slot_equal(v, g)))
                {
                    self.slots_right += 1;
                }
            }
        } else if !a.intent.is_empty() {
            self.wrong_action += 1;
        }
    }
    fn line(&self, name: &str) -> String {
        let pct = |a: usize, b: usize| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        format!(
            "| {name} | {:.1} % ({}/{}) | {:.1} % ({}) | {:.1} % ({}/{}) |",
            pct(self.right, self.n),
            self.right,
            self.n,
            pct(self.wrong_action, self.n),
            self.wrong_action,
            pct(self.slots_right, self.slot_rows),
            self.slots_right,
            self.slot_rows
        )
    }
}

/// Threshold and margin maximising right − 3 × wrong actions on the dev rows.
fn fit(
    rows: &[&Row],
    grammar: &[Option<Answer>],
    neighbours: &[Vec<Neighbour>],
    k: usize,
    ix: &SemanticIndex,
) -> SemanticSettings {
    let mut best = (
        i64::MIN,
        SemanticSettings {
            threshold: 1.0,
            thresholds: BTreeMap::new(),
            margin: 0.0,
            margins: BTreeMap::new(),
            k,
        },
    );
    for t in (50..=99).map(|t| t as f32 / 100.0) {
        for m in [
            0.0f32, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1,
        ] {
            let s = SemanticSettings {
                threshold: t,
                thresholds: BTreeMap::new(),
                margin: m,
                margins: BTreeMap::new(),
                k,
            };
            let mut score = 0i64;
            for (i, row) in rows.iter().enumerate() {
                let intent = match &grammar[i] {
                    Some(a) => a.intent.clone(),
                    None => match ix.screen(decide(&neighbours[i], &s), &row.text) {
                        Decision::Intent { intent, .. } => intent,
                        Decision::None { .. } => String::new(),
                    },
                };
                if intent == row.intent {
                    score += 1;
                } else if !intent.is_empty() {
                    score -= 3;
                }
            }
            if score > best.0 {
                best = (score, s);
            }
        }
    }
    best.1
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let models_dir = skylark::models::default_models_dir();
    let mut config = Config::default();
    if let Some(t) = std::env::var("SKYLARK_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.semantic.threads = t;
    }
    let k = config.semantic.k;
    let with_llm = std::env::var("SKYLARK_BENCH_LLM").is_ok_and(|v| v == "1");
    // SKYLARK_BENCH_SHOW=1: one line per reported row the grammar missed (what semantic said).
    let show = std::env::var("SKYLARK_BENCH_SHOW").is_ok_and(|v| v == "1");
    let data_dir = std::env::var_os("SKYLARK_PARAPHRASES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/paraphrases"));
    let recognizer =
        Recognizer::new(Grammar::builtin().expect("the built-in catalog")).expect("compile");

    let rss0 = proc::proc_status_kb("VmRSS:");
    let t = Instant::now();
    // Without the on-disk embedding cache (`semantic::load` adds it), so the index build
    // time is a cold start's.
    let dir = models_dir.join("embedding").join(&config.semantic.model);
    let opts = EmbedderOptions {
        threads: config.semantic.threads,
        models_dir: models_dir.clone(),
    };
    let tier = match Embedder::load(&dir, &config.semantic.model, &opts) {
        Ok(e) => SemanticTier::new(e, SemanticSettings::from_config(&config.semantic)),
        Err(e) => {
            eprintln!("semantic bench: {e}");
            std::process::exit(1);
        }
    };
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let llm = if with_llm {
        skylark::llm::load_configured(&config, &models_dir)
    } else {
        None
    };
    if with_llm && llm.is_none() {
        eprintln!("semantic bench: SKYLARK_BENCH_LLM=1 but the lite LLM did not load (run `skylark models fetch`)");
        std::process::exit(1);
    }
    println!(
        "semantic tier: {} ({}), model loaded in {load_ms:.0} ms",
        config.semantic.model,
        models_dir.display()
    );

    let mut builds = Vec::new();
    let mut times_ms: Vec<f64> = Vec::new();
    let mut tables = Vec::new();
    for tag in ["en", "zh-CN"] {
        let language = Language::parse(tag).expect("language");
        let t = Instant::now();
        let ix = tier
            .index(&recognizer, &language)
            .expect("index")
            .expect("a grammar for the language");
        builds.push(format!(
            "{tag}: {} sentences in {:.1} s",
            ix.len(),
            t.elapsed().as_secs_f64()
        ));
        let (rows, split) = match read_rows(&data_dir, tag) {
            Some(r) => (r, true),
            None => (fallback_rows(tag), false),
        };
        let rows: Vec<&Row> = rows.iter().collect();
        let catalog = recognizer.catalog(&language).expect("catalog");
        let tfidf = SimilarityIndex::new(
            recognizer
                .samples(&language)
                .into_iter()
                .map(|s| (s.text.clone(), Some(s)))
                .chain(skylark::semantic::none_anchors().map(|q| (q.to_string(), None))),
        );

        let ctx = DialogueContext::new();
        let mut grammar: Vec<Option<Answer>> = Vec::new();
        let mut sem_n: Vec<Vec<Neighbour>> = Vec::new();
        let mut tf_n: Vec<Vec<Neighbour>> = Vec::new();
        for row in &rows {
            grammar.push(
                recognizer
                    .recognize(&row.text, &language, &ctx)
                    .map(|m| Answer {
                        intent: m.intent,
                        slots: m.slots,
                    }),
            );
            let t = Instant::now();
            let q = tier.embedder().embed(&[row.text.as_str()]).expect("embed");
            sem_n.push(ix.nearest(&q[0], k));
            times_ms.push(t.elapsed().as_secs_f64() * 1e3);
            tf_n.push(
                tfidf
                    .nearest(&row.text, k)
                    .into_iter()
                    .map(|(s, sim)| Neighbour {
                        intent: s.as_ref().map(|s| s.intent.clone()),
                        similarity: sim,
                        slots: s.as_ref().map(|s| s.slots.clone()).unwrap_or_default(),
                        text: String::new(),
                    })
                    .collect(),
            );
        }
        let fit_idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].dev).collect();
        type Picked<'r> = (
            Vec<&'r Row>,
            Vec<Option<Answer>>,
            Vec<Vec<Neighbour>>,
            Vec<Vec<Neighbour>>,
        );
        let pick = |v: &Vec<usize>| -> Picked<'_> {
            (
                v.iter().map(|&i| rows[i]).collect(),
                v.iter().map(|&i| grammar[i].clone()).collect(),
                v.iter().map(|&i| sem_n[i].clone()).collect(),
                v.iter().map(|&i| tf_n[i].clone()).collect(),
            )
        };
        let (dr, dg, ds, dt) = pick(&fit_idx);
        let sem_s = fit(&dr, &dg, &ds, k, &ix);
        let tf_s = fit(&dr, &dg, &dt, k, &ix);
        let report_idx: Vec<usize> = (0..rows.len())
            .filter(|&i| !split || !rows[i].dev)
            .collect();

        // The lite LLM's opinions on every sentence the grammar missed, dev and test: on the
        // whole catalog, and constrained to the semantic tier's nearest intent when that
        // intent has slots the sentence does not state (the engine's fill). The thresholds
        // then decide without another decode.
        let cancel = CancelToken::new();
        let mut views: Vec<Option<LlmView>> = (0..rows.len()).map(|_| None).collect();
        if let Some(model) = &llm {
            for (i, view) in views.iter_mut().enumerate() {
                if grammar[i].is_some() {
                    continue;
                }
                let text = rows[i].text.as_str();
                let alone = model
                    .intent_opinions(text, &catalog, &cancel)
                    .expect("LLM intent");
                let fill = sem_n[i]
                    .first()
                    .and_then(|n| n.intent.clone())
                    .filter(|intent| {
                        !recognizer
                            .stated_slots(text, &language, intent, &BTreeMap::new())
                            .missing
                            .is_empty()
                    })
                    .map(|intent| {
                        let schema = catalog.intents.iter().find(|s| s.name == intent).cloned();
                        let samples = recognizer
                            .samples(&language)
                            .into_iter()
                            .filter(|s| s.intent == intent)
                            .collect();
                        let only = IntentCatalog::new(
                            language.clone(),
                            schema.into_iter().collect(),
                            samples,
                        );
                        let o = model
                            .intent_opinions(text, &only, &cancel)
                            .expect("LLM intent");
                        (intent, only, o)
                    });
                *view = Some(LlmView { alone, fill });
            }
        }
        let answer = |l: LlmIntent| Answer {
            intent: l.intent,
            slots: l.slots,
        };
        // The LLM alone after the grammar, with thresholds `t` (its own confidence) and `r`
        // (the nearest known request's similarity).
        let llm_only = |i: usize, t: f64, r: f64| -> Answer {
            views[i]
                .as_ref()
                .map_or_else(Answer::default, |v| answer(v.alone.decide(&catalog, t, r)))
        };
        // The engine's order: grammar, semantic tier (the LLM filling missing slots of its
        // intent), then the LLM.
        let combined = |i: usize, sem: &SemanticSettings, t: f64, r: f64| -> Answer {
            if let Some(a) = &grammar[i] {
                return a.clone();
            }
            let text = rows[i].text.as_str();
            let Decision::Intent {
                intent,
                sample_slots,
                ..
            } = ix.screen(decide(&sem_n[i], sem), text)
            else {
                return llm_only(i, t, r);
            };
            let mut slots = recognizer
                .stated_slots(text, &language, &intent, &sample_slots)
                .slots;
            let missing = recognizer
                .stated_slots(text, &language, &intent, &BTreeMap::new())
                .missing;
            if missing.is_empty() {
                return Answer { intent, slots };
            }
            let filled = views[i]
                .as_ref()
                .and_then(|v| v.fill.as_ref())
                .filter(|(fill_intent, _, _)| *fill_intent == intent)
                .map(|(_, only, o)| o.decide(only, t, r));
            match filled {
                Some(f) if f.intent == intent => {
                    for (k, v) in f.slots {
                        slots.entry(k).or_insert(v);
                    }
                    Answer { intent, slots }
                }
                _ => llm_only(i, t, r),
            }
        };
        let shipped = SemanticSettings::from_config(&config.semantic).for_language(&language);
        let shipped_llm = |m: &skylark::llm::LiteLlm| {
            let o = &m.settings().intent;
            (o.threshold, o.retrieval_threshold)
        };
        // The LLM's thresholds after the fitted semantic tier, fitted on dev as the tier's
        // own (right − 3 × wrong actions; among equals the stricter).
        let llm_fit = if llm.is_some() {
            let mut best = (i64::MIN, (2.0, 2.0));
            for t in [1.01, 0.99, 0.97, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5] {
                for r in [2.0, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.2] {
                    let mut score = 0i64;
                    for &i in &fit_idx {
                        let got = combined(i, &sem_s, t, r).intent;
                        if got == rows[i].intent {
                            score += 1;
                        } else if !got.is_empty() {
                            score -= 3;
                        }
                    }
                    if score > best.0 {
                        best = (score, (t, r));
                    }
                }
            }
            best.1
        } else {
            (2.0, 2.0)
        };

        let (mut g, mut sem, mut tf, mut llm_alone, mut hybrid) = (
            Score::default(),
            Score::default(),
            Score::default(),
            Score::default(),
            Score::default(),
        );
        let (mut sem_shipped, mut hybrid_fit) = (Score::default(), Score::default());
        for &i in &report_idx {
            let row = rows[i];
            let none = Answer::default();
            if let Some(a) = &grammar[i] {
                for s in [
                    &mut g,
                    &mut sem,
                    &mut tf,
                    &mut llm_alone,
                    &mut hybrid,
                    &mut sem_shipped,
                    &mut hybrid_fit,
                ] {
                    s.add(row, a);
                }
                continue;
            }
            g.add(row, &none);
            let by = |n: &[Neighbour], s: &SemanticSettings| -> Option<Answer> {
                match ix.screen(decide(n, s), &row.text) {
                    Decision::Intent {
                        intent,
                        sample_slots,
                        ..
                    } => {
                        let st =
                            recognizer.stated_slots(&row.text, &language, &intent, &sample_slots);
                        Some(Answer {
                            intent,
                            slots: st.slots,
                        })
                    }
                    Decision::None { .. } => None,
                }
            };
            let sem_a = by(&sem_n[i], &sem_s);
            if show {
                // What the shipped settings do (fixed, so showing dev rows leaks nothing).
                let shipped_a = by(&sem_n[i], &shipped);
                let got = shipped_a.as_ref().map_or("", |a| a.intent.as_str());
                let mark = if got == row.intent {
                    "ok "
                } else if got.is_empty() {
                    "-- "
                } else {
                    "BAD"
                };
                let n = &sem_n[i][0];
                println!(
                    "{mark} {tag}\t{}\twant {:?}\tgot {got:?}\tnearest {:?} {:.3} {:?}",
                    row.text, row.intent, n.intent, n.similarity, n.text
                );
            }
            sem.add(row, sem_a.as_ref().unwrap_or(&none));
            tf.add(row, by(&tf_n[i], &tf_s).as_ref().unwrap_or(&none));
            sem_shipped.add(row, by(&sem_n[i], &shipped).as_ref().unwrap_or(&none));
            if let Some(model) = &llm {
                let (t, r) = shipped_llm(model);
                llm_alone.add(row, &llm_only(i, t, r));
                hybrid.add(row, &combined(i, &shipped, t, r));
                hybrid_fit.add(row, &combined(i, &sem_s, llm_fit.0, llm_fit.1));
            }
        }
        let mut table = vec![
            format!(
                "{tag}: {} rows reported ({}), {} fitted; semantic threshold {:.2} margin {:.3}; TF-IDF threshold {:.2} margin {:.3}",
                report_idx.len(),
                if split { "test half" } else { "no split: intents.tsv, fitted and reported on the same rows" },
                fit_idx.len(),
                sem_s.threshold,
                sem_s.margin,
                tf_s.threshold,
                tf_s.margin
            ),
            "| method | intent right | wrong actions | slots right |".into(),
            "|---|---|---|---|".into(),
            g.line("grammar alone"),
            tf.line("grammar + TF-IDF kNN"),
            sem.line("grammar + semantic (e5), fitted on dev"),
            sem_shipped.line(&format!(
                "grammar + semantic (e5), as shipped ({:.2}, margin {:.3})",
                shipped.threshold, shipped.margin
            )),
        ];
        if let Some(model) = &llm {
            let (t, r) = shipped_llm(model);
            table.push(llm_alone.line(&format!("grammar + LLM, as shipped ({t:.2}, {r:.2})")));
            table.push(hybrid.line(&format!(
                "grammar + semantic + LLM, as shipped ({:.2}, {:.3}; {t:.2}, {r:.2})",
                shipped.threshold, shipped.margin
            )));
            table.push(hybrid_fit.line(&format!(
                "grammar + semantic + LLM, fitted on dev ({:.2}, {:.3}; {}, {})",
                sem_s.threshold,
                sem_s.margin,
                never(llm_fit.0),
                never(llm_fit.1)
            )));
        }
        tables.push(table.join("\n"));
    }
    let rss1 = proc::proc_status_kb("VmRSS:");
    times_ms.sort_by(f64::total_cmp);
    println!("index build: {}", builds.join("; "));
    println!(
        "semantic stage per sentence (embed + kNN, {} sentences, {} thread(s)): p50 {:.1} ms, p99 {:.1} ms",
        times_ms.len(),
        config.semantic.threads,
        percentile(&times_ms, 0.5),
        percentile(&times_ms, 0.99)
    );
    println!(
        "RSS added by the model and both indexes{}: {:.0} MB",
        if with_llm { " (and the LLM)" } else { "" },
        (rss1 - rss0) as f64 / 1024.0
    );
    for t in tables {
        println!("\n{t}");
    }
}
