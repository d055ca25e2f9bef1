//! Engine behaviour without any transport: turns, events, handlers (through an in-process
//! dispatcher), limits and cancellation.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::nlu::{Grammar, SlotValue};

fn engine(config: EngineConfig) -> Engine {
    let recognizer =
        Recognizer::new(Grammar::builtin().expect("built-in catalog")).expect("compiles");
    Engine::new(config, recognizer, Stages::text_only())
}

/// A dispatcher answering in-process: `reply` after `delay`, or never.
struct Answer {
    delay: Option<Duration>,
    speech: &'static str,
}

impl IntentDispatcher for Answer {
    fn dispatch(&self, _handler: &HandlerAddress, call: HandlerCall) -> DispatchFuture {
        let delay = self.delay;
        let speech = format!(
            "{} ({})",
            self.speech,
            call.slots
                .get("temperature")
                .map(|v| v.to_string())
                .unwrap_or_default()
        );
        Box::pin(async move {
            match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
            Ok(HandlerReply {
                status: "ok".into(),
                speech,
                places: Vec::new(),
            })
        })
    }
}

fn climate() -> HandlerAddress {
    HandlerAddress {
        owner: ":1.7".into(),
        object: "/climate".into(),
    }
}

async fn finished(
    rx: &mut broadcast::Receiver<Event>,
    turn: TurnId,
) -> (TurnStatus, String, Vec<Event>) {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("event in time")
            .expect("event");
        seen.push(e.clone());
        if let Event::TurnFinished {
            turn: t,
            status,
            response,
            ..
        } = e
        {
            if t == turn {
                return (status, response, seen);
            }
        }
    }
}

#[tokio::test]
async fn ask_without_handler_uses_the_default_response() {
    let e = engine(EngineConfig::default());
    let mut rx = e.subscribe();
    let id = e
        .ask(
            "set the temperature to 22 degrees",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("turn");
    let (status, response, seen) = finished(&mut rx, id).await;
    assert_eq!(status, TurnStatus::Ok);
    assert!(response.contains("22"), "{response}");
    assert!(seen.iter().any(|e| matches!(e, Event::IntentRecognized { intent, .. } if intent == "climate.set_temperature")));
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::StateChanged(State::Thinking))));
    assert_eq!(e.state(), State::Idle);
    let record = e.recent_turns(1).pop().expect("recorded");
    let trace = &record.trace;
    assert!(trace.took(Span::Recognize).is_some() && trace.took(Span::Handler).is_none());
    assert_eq!(trace.tier, Some(Tier::Grammar));
    assert_eq!(record.source(), "grammar");
    assert_eq!(record.intent.as_deref(), Some("climate.set_temperature"));
    assert_eq!(record.language, "en");
    let (intent, token) = (
        trace.at(Mark::IntentRecognized).expect("intent mark"),
        trace.at(Mark::FirstToken).expect("first token mark"),
    );
    assert!(intent <= token && token <= trace.total, "{trace:?}");
    assert!(trace.at(Mark::Cancel).is_none() && trace.at(Mark::FirstAudio).is_none());
}

/// A misheard command the tolerant match takes is traced as `tolerant`, source `grammar`.
#[tokio::test]
async fn a_tolerant_match_is_traced_as_such() {
    let e = engine(EngineConfig::default());
    let mut rx = e.subscribe();
    // 空调 (air conditioning) heard as 空条: a 同音字 only the tolerant match takes.
    let options = AskOptions {
        language: Some("zh-CN".into()),
        ..AskOptions::default()
    };
    let id = e
        .ask("打开空条", options, std::future::ready(()))
        .expect("turn");
    let (status, _, _) = finished(&mut rx, id).await;
    assert_eq!(status, TurnStatus::Ok);
    let record = e.recent_turns(1).pop().expect("recorded");
    assert_eq!(record.intent.as_deref(), Some("climate.set_ac"));
    assert_eq!(record.language, "zh-CN");
    assert_eq!(record.trace.tier, Some(Tier::Tolerant));
    assert_eq!(record.source(), "grammar");
    assert!(record.log_line().contains(" source=grammar tier=tolerant "));
}

/// Finished turns are kept newest first, at most `RECENT_TURNS`, each traced once.
#[tokio::test]
async fn recent_turns_are_newest_first_and_bounded() {
    let e = engine(EngineConfig::default());
    let mut rx = e.subscribe();
    let mut last = None;
    for i in 0..(super::RECENT_TURNS + 4) {
        let text = if i % 2 == 0 {
            "turn on the ac"
        } else {
            "blorp the quux"
        };
        let id = e
            .ask(text, AskOptions::default(), std::future::ready(()))
            .expect("turn");
        finished(&mut rx, id).await;
        last = Some(id);
    }
    let all = e.recent_turns(usize::MAX);
    assert_eq!(all.len(), super::RECENT_TURNS);
    assert_eq!(Some(all[0].id), last);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    let two = e.recent_turns(2);
    assert_eq!(two.len(), 2);
    assert_eq!(two[1].status, TurnStatus::Ok);
    assert_eq!(two[0].status, TurnStatus::NoIntent);
    assert_eq!(two[0].trace.tier, Some(Tier::None));
    assert_eq!(two[0].intent, None);
}

#[tokio::test]
async fn handler_reply_timeout_and_cancel() {
    let e = engine(EngineConfig {
        handler_timeout: Duration::from_millis(200),
        ..Default::default()
    });
    e.register_handler(climate(), vec!["climate.set_temperature".into()])
        .expect("registered");
    let mut rx = e.subscribe();

    e.set_dispatcher(Arc::new(Answer {
        delay: Some(Duration::from_millis(1)),
        speech: "done",
    }));
    let id = e
        .ask(
            "set the temperature to 22 degrees",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("turn");
    let (status, response, _) = finished(&mut rx, id).await;
    assert_eq!((status, response.as_str()), (TurnStatus::Ok, "done (22)"));

    e.set_dispatcher(Arc::new(Answer {
        delay: None,
        speech: "never",
    }));
    let id = e
        .ask(
            "set the temperature to 22 degrees",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("turn");
    assert_eq!(finished(&mut rx, id).await.0, TurnStatus::Timeout);

    let e = engine(EngineConfig {
        handler_timeout: Duration::from_secs(3600),
        ..Default::default()
    });
    e.register_handler(climate(), vec!["climate.set_temperature".into()])
        .expect("registered");
    e.set_dispatcher(Arc::new(Answer {
        delay: None,
        speech: "never",
    }));
    let mut rx = e.subscribe();
    let id = e
        .ask(
            "set the temperature to 22 degrees",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("turn");
    // Wait until the handler is being called, then cancel.
    loop {
        if let Ok(Event::IntentRecognized { .. }) = rx.recv().await {
            break;
        }
    }
    e.cancel(id).expect("cancel");
    assert_eq!(finished(&mut rx, id).await.0, TurnStatus::Cancelled);
    assert!(e.cancel(id).is_ok(), "a finished turn is left alone");
    assert!(matches!(
        e.cancel(TurnId(99)),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test]
async fn limits_are_named_errors() {
    let e = engine(EngineConfig {
        max_text_bytes: 16,
        max_concurrent_turns: 1,
        max_list_entries: 2,
        ..Default::default()
    });
    assert!(
        matches!(e.recognize(&"x".repeat(17), None), Err(EngineError::InvalidArgument(m)) if m.contains("max_text_bytes"))
    );
    // A turn that waits for its start holds the only slot.
    let id = e
        .ask(
            "turn on the ac",
            AskOptions::default(),
            std::future::pending(),
        )
        .expect("first turn");
    assert!(matches!(
        e.speak("hello", None, std::future::ready(())),
        Err(EngineError::Busy(_))
    ));
    e.cancel(id).expect("cancel");
    let entries = vec![("a".to_string(), "1".to_string()); 3];
    assert!(matches!(
        e.set_list("contact", entries),
        Err(EngineError::InvalidArgument(_))
    ));
    assert!(matches!(
        e.set_language("fr"),
        Err(EngineError::InvalidArgument(_))
    ));
    assert!(matches!(
        e.set_wake_word_enabled(true),
        Err(EngineError::NotReady(_))
    ));
    assert!(
        matches!(e.start_listening(None), Err(EngineError::NotReady(m)) if m.contains("not available"))
    );
}

#[tokio::test]
async fn set_list_and_language() {
    let e = engine(EngineConfig::default());
    e.set_list("contact", vec![("alice".into(), "alice-id".into())])
        .expect("set");
    let r = e.recognize("call alice", None).expect("recognize");
    assert_eq!(r.intent, "phone.call");
    assert_eq!(
        r.slots.get("contact"),
        Some(&SlotValue::Text("alice-id".into()))
    );
    e.set_language("zh").expect("zh");
    assert_eq!(e.language().to_string(), "zh-CN");
    let r = e.recognize("把温度调到二十二度", None).expect("recognize");
    assert_eq!(r.intent, "climate.set_temperature");
}

#[tokio::test]
async fn shutdown_cancels_running_turns() {
    let e = engine(EngineConfig {
        handler_timeout: Duration::from_secs(3600),
        ..Default::default()
    });
    e.register_handler(climate(), vec!["climate.set_temperature".into()])
        .expect("registered");
    e.set_dispatcher(Arc::new(Answer {
        delay: None,
        speech: "never",
    }));
    let mut rx = e.subscribe();
    let id = e
        .ask(
            "set the temperature to 22 degrees",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("turn");
    e.shutdown(Duration::from_secs(30)).await;
    assert_eq!(finished(&mut rx, id).await.0, TurnStatus::Cancelled);
    assert!(matches!(
        e.ask(
            "turn on the ac",
            AskOptions::default(),
            std::future::ready(())
        ),
        Err(EngineError::NotReady(_))
    ));
}

/// An audio sink that records what it was asked to say and plays until released or
/// cancelled (a stand-in for the speaker device, not for a model: nothing is synthesised).
#[derive(Default)]
struct HeldSink {
    said: std::sync::Mutex<Vec<String>>,
    release: std::sync::atomic::AtomicUsize,
    /// The last volume set (f32 bits; 0 until set).
    volume: std::sync::atomic::AtomicU32,
}

impl Speaker for HeldSink {
    fn speak(
        &self,
        text: &str,
        _language: &Language,
        cancel: &CancelToken,
    ) -> Result<(), StageError> {
        let n = {
            let mut said = self
                .said
                .lock()
                .map_err(|_| StageError("poisoned".into()))?;
            said.push(text.to_string());
            said.len()
        };
        while !cancel.is_cancelled() && self.release.load(std::sync::atomic::Ordering::SeqCst) < n {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    fn set_volume(&self, volume: f32) {
        self.volume
            .store(volume.to_bits(), std::sync::atomic::Ordering::SeqCst);
    }
}

/// Barge-in: the speaking turn is cancelled and the keyword is announced before that turn's
/// end; with no microphone in this engine the listening turn cannot start (`NotReady`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_cancels_the_speaking_turn() {
    let (_sink, e) = speaking_engine();
    let mut rx = e.subscribe();
    let one = e
        .speak("a long answer", None, std::future::ready(()))
        .expect("one");
    loop {
        if let Event::StateChanged(State::Speaking) = rx.recv().await.expect("event") {
            break;
        }
    }
    let r = e.barge_in(Some(("hey_livekit", 0.9)));
    assert!(matches!(r, Err(EngineError::NotReady(_))), "{r:?}");
    let mut order = Vec::new();
    loop {
        match rx.recv().await.expect("event") {
            Event::WakeWordDetected { keyword, .. } => order.push(keyword),
            Event::TurnFinished { turn, status, .. } => {
                assert_eq!((turn, status), (one, TurnStatus::Cancelled));
                order.push("finished".into());
                break;
            }
            _ => {}
        }
    }
    assert_eq!(order, vec!["hey_livekit".to_string(), "finished".into()]);
}

/// `Volume`: 0–1, told to the speaker, `PropertyChanged` only when it changes; anything else
/// is `InvalidArgument` and changes nothing.
#[tokio::test]
async fn volume_is_checked_and_reaches_the_speaker() {
    let (sink, e) = speaking_engine();
    assert_eq!(e.volume(), 1.0);
    let mut rx = e.subscribe();
    e.set_volume(0.3).expect("in range");
    e.set_volume(0.3).expect("same again");
    assert_eq!(e.volume(), 0.3);
    assert_eq!(
        f32::from_bits(sink.volume.load(std::sync::atomic::Ordering::SeqCst)),
        0.3
    );
    for bad in [1.01, -0.5, f64::NAN, f64::INFINITY] {
        let r = e.set_volume(bad);
        assert!(
            matches!(r, Err(EngineError::InvalidArgument(_))),
            "{bad}: {r:?}"
        );
    }
    assert_eq!(e.volume(), 0.3);
    let mut changes = 0;
    while let Ok(ev) = rx.try_recv() {
        if ev == Event::PropertyChanged(Property::Volume) {
            changes += 1;
        }
    }
    assert_eq!(changes, 1);
}

/// An engine on the built-in catalog whose speaker is a [`HeldSink`].
fn speaking_engine() -> (Arc<HeldSink>, Engine) {
    let sink = Arc::new(HeldSink::default());
    let mut stages = Stages::text_only();
    stages.speaker = Stage::Ready(sink.clone());
    let recognizer = Recognizer::new(Grammar::builtin().expect("catalog")).expect("compiles");
    (
        sink,
        Engine::new(EngineConfig::default(), recognizer, stages),
    )
}

/// The speaker is one audio path: a second turn waits for it, State says speaking, and a
/// cancelled turn stops its speech.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_take_the_speaker_one_at_a_time() {
    let (sink, e) = speaking_engine();
    let mut rx = e.subscribe();
    let one = e.speak("one", None, std::future::ready(())).expect("one");
    loop {
        if let Event::StateChanged(State::Speaking) = rx.recv().await.expect("event") {
            break;
        }
    }
    let two = e.speak("two", None, std::future::ready(())).expect("two");
    let three = e
        .ask(
            "turn on the ac",
            AskOptions::default(),
            std::future::ready(()),
        )
        .expect("three");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        *sink.said.lock().unwrap(),
        vec!["one".to_string()],
        "the others wait for the speaker"
    );
    assert_eq!(e.state(), State::Speaking);
    e.cancel(one).expect("cancel one");
    let mut ended = Vec::new();
    while ended.len() < 3 {
        if let Event::TurnFinished { turn, status, .. } = rx.recv().await.expect("event") {
            ended.push((turn, status));
            // Let each waiting turn finish its speech once it holds the speaker.
            sink.release.store(3, std::sync::atomic::Ordering::SeqCst);
        }
    }
    assert_eq!(ended[0], (one, TurnStatus::Cancelled));
    assert!(
        ended.contains(&(two, TurnStatus::Ok)) && ended.contains(&(three, TurnStatus::Ok)),
        "{ended:?}"
    );
    let said = sink.said.lock().unwrap().clone();
    assert_eq!(said.len(), 3, "{said:?}");
    assert_eq!(e.state(), State::Idle);
    let recent = e.recent_turns(3);
    let trace = |id| {
        recent
            .iter()
            .find(|t| t.id == id)
            .expect("recorded")
            .trace
            .clone()
    };
    let (one, two) = (trace(one), trace(two));
    assert!(two.took(Span::Speak).is_some());
    assert!(two.at(Mark::PlaybackEnd).is_some() && two.at(Mark::Cancel).is_none());
    assert!(one.at(Mark::Cancel).is_some() && one.at(Mark::PlaybackEnd).is_none());
    assert!(
        two.at(Mark::FirstAudio).is_none(),
        "this sink does not report audio"
    );
}
