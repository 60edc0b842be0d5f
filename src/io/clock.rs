//! Deadlines derived from the operation timeout Pacemaker gives us.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    pub fn after(d: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + d,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// A deadline `margin` earlier than this one (never in the past).
    pub fn minus(&self, margin: Duration) -> Deadline {
        let end = self
            .end
            .checked_sub(margin)
            .unwrap_or(self.end)
            .max(Instant::now());
        Deadline { end }
    }

    /// Sleep `step`, or less when the deadline comes first.
    pub fn sleep(&self, step: Duration) {
        std::thread::sleep(step.min(self.remaining()));
    }

    /// Poll `done` every `step` until it returns `Some` or the deadline
    /// passes (then `None`). Always polls at least once.
    pub fn poll<T>(&self, step: Duration, mut done: impl FnMut() -> Option<T>) -> Option<T> {
        loop {
            if let Some(v) = done() {
                return Some(v);
            }
            if self.expired() {
                return None;
            }
            self.sleep(step);
        }
    }
}
