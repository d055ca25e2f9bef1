//! The soak loop shared by `tests/hostile_clients.rs` (short, asserted) and
//! `benches/soak.rs` (long, slopes reported): text turns (`Recognize`, and every tenth an
//! `Ask` followed to its `TurnFinished`) and spoken turns (`Transcribe` of a clip, then
//! `Recognize` of what was heard) in a bounded loop, with the daemon's resident memory and
//! open descriptors sampled as it goes. Every answer is checked; a wrong one panics.

use std::path::Path;
use std::time::{Duration, Instant};

use super::client::*;
use super::{slope, Footprint, PATIENCE};

/// How much to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Text turns in all.
    pub text_turns: usize,
    /// A spoken turn after every this many text turns.
    pub spoken_every: usize,
    /// A sample of RSS and descriptors after every this many turns (text and spoken).
    pub sample_every: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    /// (turns done, footprint) samples, the first before any turn.
    pub samples: Vec<(usize, Footprint)>,
    pub text_turns: usize,
    pub spoken_turns: usize,
    pub seconds: f64,
}

impl Report {
    /// Least-squares slope of RSS, in KiB per 1,000 turns.
    pub fn rss_kib_per_1000(&self) -> f64 {
        let p: Vec<(f64, f64)> = self
            .samples
            .iter()
            .map(|(n, f)| (*n as f64 / 1000.0, f.rss_kib as f64))
            .collect();
        slope(&p)
    }

    /// Least-squares slope of the open descriptors, per 1,000 turns.
    pub fn fds_per_1000(&self) -> f64 {
        let p: Vec<(f64, f64)> = self
            .samples
            .iter()
            .map(|(n, f)| (*n as f64 / 1000.0, f.fds as f64))
            .collect();
        slope(&p)
    }

    pub fn first(&self) -> Footprint {
        self.samples
            .first()
            .map(|s| s.1)
            .unwrap_or(Footprint { rss_kib: 0, fds: 0 })
    }

    pub fn last(&self) -> Footprint {
        self.samples.last().map(|s| s.1).unwrap_or(self.first())
    }

    pub fn summary(&self) -> String {
        let (a, b) = (self.first(), self.last());
        format!(
            "{} text + {} spoken turns in {:.0} s: RSS {} -> {} KiB, slope {:+.0} KiB per 1,000 turns; fds {} -> {}, slope {:+.2} per 1,000 turns ({} samples)",
            self.text_turns,
            self.spoken_turns,
            self.seconds,
            a.rss_kib,
            b.rss_kib,
            self.rss_kib_per_1000(),
            a.fds,
            b.fds,
            self.fds_per_1000(),
            self.samples.len()
        )
    }
}

const TEXT: [(&str, &str, &str); 6] = [
    (
        "set the temperature to 22 degrees",
        "en",
        "climate.set_temperature",
    ),
    ("turn on the ac", "en", "climate.set_ac"),
    ("open the sunroof", "en", "sunroof.open"),
    ("play some jazz", "en", "media.play"),
    ("把温度调到二十二度", "zh-CN", "climate.set_temperature"),
    ("打开空调", "zh-CN", "climate.set_ac"),
];

/// Runs `plan` against the daemon `pid` on the bus at `address`; `clip` is a WAV of "Open
/// the driver window."
pub async fn run(address: &str, pid: u32, clip: &Path, plan: Plan) -> Report {
    let conn = connect(address).await;
    let mut finished = turn_finished(&conn).await;
    let mut samples = vec![(0, Footprint::of(pid))];
    let (mut text, mut spoken, mut done) = (0, 0, 0);
    let start = Instant::now();
    while text < plan.text_turns {
        let (sentence, language, intent) = TEXT[text % TEXT.len()];
        if text % 10 == 9 {
            let turn = ask(&conn, sentence, Some(language))
                .await
                .unwrap_or_else(|e| panic!("Ask {sentence:?}: {e}"));
            let deadline = Instant::now() + PATIENCE;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, finished.recv()).await {
                    Ok(Some((t, status))) if t == turn => {
                        assert_eq!(status, "ok", "{sentence:?}");
                        break;
                    }
                    Ok(Some(_)) => {}
                    _ => panic!("turn {turn} ({sentence:?}) never finished"),
                }
            }
        } else {
            let got = recognize(&conn, sentence, Some(language))
                .await
                .unwrap_or_else(|e| panic!("Recognize {sentence:?}: {e}"));
            assert_eq!(got, intent, "{sentence:?}");
        }
        text += 1;
        done += 1;
        if done % plan.sample_every == 0 {
            samples.push((done, Footprint::of(pid)));
        }
        if plan.spoken_every > 0 && text % plan.spoken_every == 0 {
            let file = std::fs::File::open(clip).expect("clip");
            let heard = transcribe(&conn, &std::os::fd::OwnedFd::from(file), false)
                .await
                .unwrap_or_else(|e| panic!("Transcribe: {e}"));
            let got = recognize(&conn, &heard, Some("en"))
                .await
                .unwrap_or_else(|e| panic!("Recognize {heard:?}: {e}"));
            assert_eq!(got, "window.open", "heard {heard:?}");
            spoken += 1;
            done += 1;
            if done % plan.sample_every == 0 {
                samples.push((done, Footprint::of(pid)));
            }
        }
    }
    // The last sample after the daemon had a moment (a turn's tasks end after its signal).
    tokio::time::sleep(Duration::from_millis(500)).await;
    if samples.last().map(|s| s.0) != Some(done) {
        samples.push((done, Footprint::of(pid)));
    }
    Report {
        samples,
        text_turns: text,
        spoken_turns: spoken,
        seconds: start.elapsed().as_secs_f64(),
    }
}
