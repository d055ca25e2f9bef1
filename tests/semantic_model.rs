//! The semantic tier on its real model (multilingual-e5-small, `skylark models fetch
//! multilingual-e5-small`): the compact tokenizer equals `tokenizers`, embeddings put
//! paraphrases closer than unrelated requests in both languages, a missing or damaged model
//! is a clear error and the assistant answers without the tier, and a paraphrase the grammar
//! misses gets its intent through `Recognize` and `skylark ask`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use skylark::config::Config;
use skylark::engine::{Engine, EngineConfig, Source, Stages};
use skylark::nlu::{DialogueContext, Grammar, Language, Recognizer};
use skylark::semantic::{SemanticError, UnigramTokenizer};

const MODEL: &str = "multilingual-e5-small";

fn models_dir() -> PathBuf {
    let dir = skylark::models::default_models_dir();
    assert!(
        dir.join("embedding")
            .join(MODEL)
            .join("model.onnx")
            .is_file(),
        "{} is missing: run `skylark models fetch {MODEL}`",
        dir.join("embedding").join(MODEL).display()
    );
    dir
}

fn model_dir() -> PathBuf {
    models_dir().join("embedding").join(MODEL)
}

fn recognizer() -> Recognizer {
    Recognizer::new(Grammar::builtin().expect("catalog")).expect("compile")
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn compact_tokenizer_gives_the_ids_of_tokenizers() {
    let path = model_dir().join("tokenizer.json");
    let mine = UnigramTokenizer::from_file(&path).expect("compact tokenizer");
    let reference = tokenizers::Tokenizer::from_file(&path).expect("tokenizers");
    let r = recognizer();
    let mut texts: Vec<String> = Vec::new();
    for tag in ["en", "zh-CN"] {
        let language = Language::parse(tag).expect("language");
        texts.extend(r.samples(&language).into_iter().map(|s| s.text));
    }
    texts.extend(
        [
            "  Ｆｕｌｌ－width  ＡＢＣ\ttabs ",
            "naïve café — “quotes” …",
            "Привет мир 🙂 ok",
            "query: 我想找一家附近的火锅店",
            "",
        ]
        .map(String::from),
    );
    assert!(texts.len() > 500, "catalog sentences: {}", texts.len());
    for t in &texts {
        let want = reference
            .encode(t.as_str(), true)
            .expect("encode")
            .get_ids()
            .to_vec();
        assert_eq!(mine.encode(t, 512).expect("encode"), want, "{t:?}");
    }
}

#[test]
fn paraphrases_are_closer_than_unrelated_requests_in_both_languages() {
    let config = Config::default();
    let tier = skylark::semantic::load(&config, &models_dir()).expect("load");
    let e = tier.embedder();
    for (a, b, far) in [
        (
            "turn on the kitchen light",
            "switch the kitchen lights on",
            "play some jazz",
        ),
        (
            "what's the weather like today",
            "is it going to rain tomorrow",
            "call mom",
        ),
        (
            "I'm freezing in here",
            "make the car warmer",
            "skip this song",
        ),
        ("打开客厅的灯", "把客厅的灯打开", "播放一些爵士乐"),
        ("今天天气怎么样", "明天会下雨吗", "给妈妈打电话"),
        ("我好冷", "把车里调暖一点", "下一首歌"),
    ] {
        let v = e.embed(&[a, b, far]).expect("embed");
        assert_eq!(v.len(), 3);
        assert!((cos(&v[0], &v[0]) - 1.0).abs() < 1e-3, "not unit length");
        assert!(
            cos(&v[0], &v[1]) > cos(&v[0], &v[2]),
            "{a:?} ~ {b:?} {} should beat {far:?} {}",
            cos(&v[0], &v[1]),
            cos(&v[0], &v[2])
        );
    }
}

/// A copy of the model folder to damage.
fn copy_model(to: &Path) -> PathBuf {
    let dir = to.join("embedding").join(MODEL);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for f in ["model.onnx", "tokenizer.json", "config.json"] {
        std::fs::copy(model_dir().join(f), dir.join(f)).expect("copy");
    }
    std::os::unix::fs::symlink(models_dir().join("onnxruntime"), to.join("onnxruntime"))
        .expect("link the runtime");
    dir
}

#[test]
fn a_missing_or_damaged_model_is_a_clear_error_and_the_grammar_still_answers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = copy_model(tmp.path());
    let config = Config::default();

    std::fs::remove_file(dir.join("model.onnx")).expect("rm");
    let err = skylark::semantic::load(&config, tmp.path())
        .err()
        .expect("an error");
    assert!(matches!(err, SemanticError::MissingFile { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.join("model.onnx").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("skylark models fetch multilingual-e5-small"),
        "{msg}"
    );
    assert!(skylark::semantic::load_configured(&config, tmp.path()).is_none());

    let bytes = std::fs::read(model_dir().join("model.onnx")).expect("read");
    std::fs::write(dir.join("model.onnx"), &bytes[..bytes.len() / 3]).expect("truncate");
    let msg = skylark::semantic::load(&config, tmp.path())
        .err()
        .expect("an error")
        .to_string();
    assert!(
        msg.contains(&dir.join("model.onnx").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("skylark models fetch multilingual-e5-small"),
        "{msg}"
    );

    std::fs::copy(model_dir().join("model.onnx"), dir.join("model.onnx")).expect("restore");
    std::fs::write(dir.join("tokenizer.json"), "{\"model\": 1}").expect("damage");
    let msg = skylark::semantic::load(&config, tmp.path())
        .err()
        .expect("an error")
        .to_string();
    assert!(
        msg.contains("tokenizer.json") && msg.contains("skylark models fetch"),
        "{msg}"
    );

    // `skylark ask` with the damaged tier (and no LLM) still answers from the grammar.
    let cfg = tmp.path().join("config.toml");
    std::fs::write(&cfg, "[llm]\nenabled = false\n").expect("config");
    let out = ask(&cfg, tmp.path(), "turn on the ac");
    assert!(out.0, "{}", out.1);
    assert!(out.1.contains("intent: climate.set_ac"), "{}", out.1);
}

/// Paraphrases the grammar does not match, with the intent the semantic tier must give.
const PARAPHRASES: &[(&str, &str, &str)] = &[
    ("en", "my butt is cold, heat my seat", "seat.set_heating"),
    (
        "zh-CN",
        "前面车尾气好大，开内循环",
        "climate.set_recirculation",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recognize_gets_a_paraphrase_the_grammar_misses() {
    let config = Config::default();
    let tier = skylark::semantic::load(&config, &models_dir()).expect("load");
    let engine = Engine::new(
        EngineConfig::from_config(&config).expect("config"),
        recognizer(),
        Stages::text_only(),
    );
    let r = recognizer();
    for &(tag, text, _) in PARAPHRASES {
        let language = Language::parse(tag).expect("language");
        assert!(
            r.recognize(text, &language, &DialogueContext::new())
                .is_none(),
            "the grammar matches {text:?}"
        );
        let before = engine
            .recognize_hybrid(text, Some(tag))
            .await
            .expect("recognize");
        assert_eq!(
            before.source,
            Source::None,
            "{text:?} without the tier: {before:?}"
        );
    }
    engine.set_semantic(Arc::new(tier));
    for &(tag, text, intent) in PARAPHRASES {
        let got = engine
            .recognize_hybrid(text, Some(tag))
            .await
            .expect("recognize");
        assert_eq!(got.intent, intent, "{text:?}: {got:?}");
        assert_eq!(
            got.source,
            Source::Llm,
            "the semantic tier is part of the model tier"
        );
    }
    // An open question gets no intent.
    let got = engine
        .recognize_hybrid("who wrote the divine comedy", Some("en"))
        .await
        .expect("recognize");
    assert_eq!(got.intent, "", "{got:?}");
}

fn ask(config: &Path, models: &Path, text: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_skylark"))
        .arg("--config")
        .arg(config)
        .args(["ask", text, "--no-speak"])
        .env("SKYLARK_MODELS_DIR", models)
        .env("SKYLARK_LOG", "warn")
        .output()
        .expect("run skylark");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn skylark_ask_understands_a_paraphrase_through_the_semantic_tier() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = tmp.path().join("config.toml");
    // Without the LLM, only the semantic tier can find the intent.
    std::fs::write(&cfg, "[llm]\nenabled = false\n").expect("config");
    let (ok, out) = ask(&cfg, &models_dir(), PARAPHRASES[0].1);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("intent: {}", PARAPHRASES[0].2)) && out.contains("(llm, "),
        "{out}"
    );
}

fn intent_of(d: Option<skylark::semantic::Decision>) -> String {
    match d {
        Some(skylark::semantic::Decision::Intent { intent, .. }) => intent,
        _ => String::new(),
    }
}

#[test]
fn each_language_gets_its_own_threshold() {
    let r = recognizer();
    let (en, zh) = (PARAPHRASES[0], PARAPHRASES[PARAPHRASES.len() - 1]);
    assert_eq!((en.0, zh.0), ("en", "zh-CN"));
    let decide = |config: &Config, (tag, text, _): (&str, &str, &str)| {
        let tier = skylark::semantic::load(config, &models_dir()).expect("load");
        let language = Language::parse(tag).expect("language");
        intent_of(tier.decide(text, &language, &r).expect("decide"))
    };
    let config = Config::default();
    assert_eq!(decide(&config, en), en.2);
    assert_eq!(decide(&config, zh), zh.2);
    // English alone out of reach: Mandarin still decides by its own threshold.
    let mut strict_en = Config::default();
    strict_en.semantic.thresholds.insert("en".into(), 1.01);
    assert_eq!(decide(&strict_en, en), "");
    assert_eq!(decide(&strict_en, zh), zh.2);
    let mut strict_zh = Config::default();
    strict_zh.semantic.thresholds.insert("zh".into(), 1.01);
    assert_eq!(decide(&strict_zh, en), en.2);
    assert_eq!(decide(&strict_zh, zh), "");
}

#[test]
fn a_question_about_the_cars_state_is_not_acted_on() {
    let config = Config::default();
    let tier = skylark::semantic::load(&config, &models_dir()).expect("load");
    let r = recognizer();
    let got = |tag: &str, text: &str| {
        let language = Language::parse(tag).expect("language");
        intent_of(tier.decide(text, &language, &r).expect("decide"))
    };
    for (tag, asks) in [
        ("en", "is the back window open"),
        ("en", "are all the windows up"),
        ("zh-CN", "空调现在开着吗"),
        ("zh-CN", "后排车窗关好了吗"),
    ] {
        assert_eq!(got(tag, asks), "", "{asks:?} asks, it does not command");
    }
    // Questions are still answered by the intents that answer them.
    assert_eq!(got("en", "is it going to be sunny tomorrow"), "weather.get");
}
