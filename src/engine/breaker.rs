//! The cloud tier's circuit breaker: after `threshold` failures in a row the cloud is not
//! asked for `cooldown`; then one request tries it again (half-open) — a success closes the
//! breaker, a failure opens it for another cool-down. Pure: the caller passes the time.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// The cloud is asked.
    Closed,
    /// The cloud is not asked until the cool-down ends.
    Open,
    /// The cool-down ended: one trial request is allowed.
    HalfOpen,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    opened_at: Option<Instant>,
    trial_running: bool,
}

/// What a recorded outcome changed (the caller logs and signals it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Opened,
    Closed,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            opened_at: None,
            trial_running: false,
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(t) if now.saturating_duration_since(t) >= self.cooldown => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// May a request go to the cloud now? In half-open, only one at a time.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.trial_running => false,
            BreakerState::HalfOpen => {
                self.trial_running = true;
                true
            }
        }
    }

    pub fn success(&mut self) -> Transition {
        self.failures = 0;
        self.trial_running = false;
        match self.opened_at.take() {
            Some(_) => Transition::Closed,
            None => Transition::None,
        }
    }

    pub fn failure(&mut self, now: Instant) -> Transition {
        self.trial_running = false;
        self.failures = self.failures.saturating_add(1);
        if self.opened_at.is_some() {
            // A failed trial: another cool-down.
            self.opened_at = Some(now);
            return Transition::None;
        }
        if self.failures >= self.threshold {
            self.opened_at = Some(now);
            return Transition::Opened;
        }
        Transition::None
    }

    /// A request that ended without telling anything about the cloud (cancelled, refused
    /// locally): frees a half-open trial.
    pub fn release(&mut self) {
        self.trial_running = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_n_failures_and_closes_after_a_successful_trial() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        assert!(b.allow(t0));
        assert_eq!(b.failure(t0), Transition::None);
        assert_eq!(b.failure(t0), Transition::None);
        assert_eq!(b.failure(t0), Transition::Opened);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.allow(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert!(b.allow(later), "one trial");
        assert!(!b.allow(later), "only one trial at a time");
        assert_eq!(b.failure(later), Transition::None);
        assert_eq!(
            b.state(later),
            BreakerState::Open,
            "a failed trial re-opens"
        );
        let again = later + Duration::from_secs(10);
        assert!(b.allow(again));
        assert_eq!(b.success(), Transition::Closed);
        assert_eq!(b.state(again), BreakerState::Closed);
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(1));
        b.failure(t0);
        assert_eq!(b.success(), Transition::None);
        assert_eq!(b.failure(t0), Transition::None);
        assert_eq!(b.state(t0), BreakerState::Closed);
    }
}
