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

/// The op timeout split in two: the deadline our own loops use, and a later
/// moment at which a watchdog ends the process with a clear exit reason
/// instead of being SIGKILLed by Pacemaker with none.
pub fn budget(timeout: Duration) -> (Deadline, Duration) {
    let margin = (timeout / 10).min(Duration::from_secs(2));
    (Deadline::after(timeout - margin), timeout - margin / 2)
}

/// End the process with OCF_ERR_GENERIC after `after`, whatever it is doing
/// (a hung PostgreSQL or crm tool must not turn into a silent kill).
pub fn arm_watchdog(after: Duration, op_timeout: Duration, action: &'static str) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        crate::ocf::log::exit_reason(&watchdog_reason(action, op_timeout));
        std::process::exit(i32::from(crate::ocf::rc::OcfRc::ErrGeneric.code()));
    });
}

/// The watchdog's exit reason ([`arm_watchdog`]).
fn watchdog_reason(action: &str, op_timeout: Duration) -> String {
    format!(
        "{action} did not finish within its {:.1}s timeout; PostgreSQL or a cluster tool hangs",
        op_timeout.as_secs_f64()
    )
}

/// Milliseconds since the epoch: a token that differs between two runs of
/// the agent (`core::replication::resync`).
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_reason_fits_an_exit_reason() {
        let why = watchdog_reason("reload-agent", Duration::from_secs(10 * 86_400));
        assert!(why.len() <= crate::error::EXIT_REASON_MAX, "{why}");
        assert_eq!(
            watchdog_reason("monitor", Duration::from_secs(3)),
            "monitor did not finish within its 3.0s timeout; PostgreSQL or a cluster tool hangs"
        );
    }

    #[test]
    fn budget_leaves_a_margin_for_the_watchdog() {
        let (d, w) = budget(Duration::from_secs(60));
        assert!(d.remaining() <= Duration::from_secs(58));
        assert_eq!(w, Duration::from_secs(59));
        let (d, w) = budget(Duration::from_secs(5));
        assert!(d.remaining() <= Duration::from_millis(4500));
        assert_eq!(w, Duration::from_millis(4750));
    }

    #[test]
    fn poll_stops_at_the_deadline() {
        let d = Deadline::after(Duration::from_millis(50));
        assert_eq!(d.poll(Duration::from_millis(5), || None::<()>), None);
        assert!(d.expired());
        assert_eq!(
            Deadline::after(Duration::ZERO).poll(Duration::from_secs(1), || Some(1)),
            Some(1)
        );
    }
}
