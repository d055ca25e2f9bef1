//! Accounting of where turns were answered and what they cost: tokens on the device and in
//! the cloud, cloud calls and failures, the estimated cloud cost from the configured prices,
//! device time. Totals since start, and the last turns' own figures.

use std::collections::VecDeque;
use std::time::Duration;

use super::event::Source;
use super::turn::TurnId;

/// Turns whose own figures are kept (as `RECENT_TURNS`).
const KEPT: usize = 256;

/// One turn's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnUsage {
    /// Who understood or answered the turn: grammar, llm (the device's models), cloud or none.
    pub source: Option<Source>,
    /// Tokens the device's language model read and wrote for this turn (estimated from the
    /// text: about 4 bytes a token).
    pub device_tokens: u64,
    pub cloud_tokens_in: u64,
    pub cloud_tokens_out: u64,
    /// Whether the cloud's token counts are estimates (the server reported no `usage`).
    pub cloud_tokens_estimated: bool,
    /// Time spent in the device's tiers (grammar, semantic, LLM).
    pub device_time: Duration,
    /// Time waiting for the cloud.
    pub cloud_time: Duration,
    /// Estimated cost of this turn's cloud request.
    pub cloud_cost: f64,
    /// The cloud was asked (and how that ended: `ok` or the failure's kind).
    pub cloud_outcome: Option<&'static str>,
    /// The sentence was kept on the device by the privacy rules.
    pub kept_private: bool,
}

/// Totals since the engine started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageTotals {
    pub turns: u64,
    /// Turns answered on the device (grammar, semantic tier, lite LLM, or nothing).
    pub device_turns: u64,
    pub cloud_turns: u64,
    pub device_tokens: u64,
    pub cloud_tokens_in: u64,
    pub cloud_tokens_out: u64,
    pub cloud_calls: u64,
    pub cloud_failures: u64,
    pub cloud_cost: f64,
    pub device_time: Duration,
    pub cloud_time: Duration,
    /// Sentences kept on the device by the privacy rules in `hybrid` / `cloud` mode.
    pub kept_private: u64,
    /// Times the breaker opened.
    pub breaker_opened: u64,
}

#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) totals: UsageTotals,
    turns: VecDeque<(TurnId, TurnUsage)>,
}

impl Ledger {
    pub(super) fn record(&mut self, id: TurnId, u: TurnUsage) {
        let t = &mut self.totals;
        t.turns += 1;
        if u.source == Some(Source::Cloud) {
            t.cloud_turns += 1;
        } else {
            t.device_turns += 1;
        }
        t.device_tokens += u.device_tokens;
        t.device_time += u.device_time;
        self.record_call(&u);
        if self.turns.len() == KEPT {
            self.turns.pop_front();
        }
        self.turns.push_back((id, u));
    }

    /// A cloud request outside a turn (`Recognize`): its calls, tokens, cost and time count,
    /// no turn does.
    pub(super) fn record_call(&mut self, u: &TurnUsage) {
        let t = &mut self.totals;
        if let Some(o) = u.cloud_outcome {
            t.cloud_calls += 1;
            if o != "ok" {
                t.cloud_failures += 1;
            }
        }
        t.cloud_tokens_in += u.cloud_tokens_in;
        t.cloud_tokens_out += u.cloud_tokens_out;
        t.cloud_cost += u.cloud_cost;
        t.cloud_time += u.cloud_time;
        t.kept_private += u64::from(u.kept_private);
    }

    pub(super) fn turn(&self, id: TurnId) -> Option<TurnUsage> {
        self.turns
            .iter()
            .rev()
            .find(|(t, _)| *t == id)
            .map(|(_, u)| u.clone())
    }
}

/// The estimated tokens of `text` (about 4 bytes a token for English; a Han character is 3
/// bytes and about one token, so this undercounts Mandarin slightly).
pub(super) fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_and_turns_are_found() {
        let mut l = Ledger::default();
        l.record(
            TurnId(1),
            TurnUsage {
                source: Some(Source::Grammar),
                ..TurnUsage::default()
            },
        );
        l.record(
            TurnId(2),
            TurnUsage {
                source: Some(Source::Cloud),
                cloud_tokens_in: 100,
                cloud_tokens_out: 20,
                cloud_cost: 0.5,
                cloud_outcome: Some("ok"),
                ..TurnUsage::default()
            },
        );
        l.record(
            TurnId(3),
            TurnUsage {
                source: Some(Source::None),
                cloud_outcome: Some("offline"),
                ..TurnUsage::default()
            },
        );
        let t = &l.totals;
        assert_eq!((t.turns, t.device_turns, t.cloud_turns), (3, 2, 1));
        assert_eq!((t.cloud_calls, t.cloud_failures), (2, 1));
        assert_eq!(t.cloud_tokens_in, 100);
        assert_eq!(l.turn(TurnId(2)).unwrap().cloud_tokens_out, 20);
        assert!(l.turn(TurnId(9)).is_none());
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
