//! Crash-loop back-off, as upstream's kubelet computes it: a container that exits and must
//! be restarted is restarted at once the first time; after that it waits, counted from its
//! exit, 10 s, then twice as long after each further restart, up to 5 minutes. A container
//! that ran without restarting for twice the maximum (10 minutes) starts over at 10 s.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The first delay.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest delay.
pub const MAXIMUM: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug)]
struct Entry {
    delay: Duration,
    last_update: SystemTime,
}

/// Back-off per key (a container name, or `image:<name>` for image pulls).
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

impl Backoff {
    fn live(&self, key: &str, event: SystemTime) -> Option<Entry> {
        let entry = *self.entries.get(key)?;
        let expired = event
            .duration_since(entry.last_update)
            .is_ok_and(|since| since > 2 * MAXIMUM);
        (!expired).then_some(entry)
    }

    /// How long `key`, which failed at `event`, must still wait at `now`; `None` when it may
    /// be retried now.
    pub fn remaining(&self, key: &str, event: SystemTime, now: SystemTime) -> Option<Duration> {
        let entry = self.live(key, event)?;
        let waited = now.duration_since(event).unwrap_or_default();
        (waited < entry.delay).then(|| entry.delay - waited)
    }

    /// The delay in force for `key` (for messages), if any.
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.delay)
    }

    /// Records a retry of `key` (which failed at `event`) at `now`: the next failure waits
    /// twice as long.
    pub fn next(&mut self, key: &str, event: SystemTime, now: SystemTime) {
        let delay = match self.live(key, event) {
            Some(entry) => (entry.delay * 2).min(MAXIMUM),
            None => INITIAL,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                delay,
                last_update: now,
            },
        );
    }

    /// Forgets `key`.
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
    }

    #[test]
    fn first_restart_is_immediate_then_doubles_to_five_minutes() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.remaining("app", at(0), at(0)), None);
        backoff.next("app", at(0), at(0));
        // Crashed again at 1 s: waits 10 s from that exit.
        assert_eq!(
            backoff.remaining("app", at(1), at(1)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            backoff.remaining("app", at(1), at(6)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(backoff.remaining("app", at(1), at(11)), None);
        let mut delays = Vec::new();
        for t in 11..18 {
            backoff.next("app", at(t - 10), at(t));
            delays.push(backoff.delay("app").unwrap().as_secs());
        }
        assert_eq!(delays, [20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_long_run_starts_over() {
        let mut backoff = Backoff::default();
        backoff.next("app", at(0), at(0));
        backoff.next("app", at(5), at(20));
        assert_eq!(backoff.delay("app"), Some(Duration::from_secs(20)));
        // Exited 11 minutes after the last restart: back to the beginning.
        assert_eq!(backoff.remaining("app", at(680), at(680)), None);
        backoff.next("app", at(680), at(680));
        assert_eq!(backoff.delay("app"), Some(Duration::from_secs(10)));
    }
}
