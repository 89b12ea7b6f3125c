//! How long a read from a client may block, by what the connection is waiting for (patched copy,
//! see PATCHES.md). Shared by the connection's parser and the request's body reader, which take
//! turns on the socket; the socket's receive timeout is set from it before each read.

use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Limits;

/// What the connection is reading.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// The first byte of the next request.
    Idle,
    /// The rest of a request head, whose first byte came at this instant.
    Head(Instant),
    /// A request body, begun at `since`, of which `got` bytes came so far.
    Body { since: Instant, got: u64 },
    /// Input discarded before closing, until this instant.
    Linger(Instant),
}

pub(crate) struct ReadTimer {
    idle: Option<Duration>,
    head: Option<Duration>,
    body: Option<Duration>,
    body_min_rate: u64,
    wait: Mutex<Wait>,
}

/// Shortest wait worth a read; setting a zero receive timeout would mean "forever".
const MIN_WAIT: Duration = Duration::from_millis(1);

impl ReadTimer {
    pub(crate) fn new(limits: &Limits) -> ReadTimer {
        ReadTimer {
            idle: limits.idle_timeout,
            head: limits.head_timeout,
            body: limits.body_timeout,
            body_min_rate: limits.body_min_rate,
            wait: Mutex::new(Wait::Idle),
        }
    }

    pub(crate) fn set(&self, wait: Wait) {
        *self.lock() = wait;
    }

    pub(crate) fn get(&self) -> Wait {
        *self.lock()
    }

    /// Counts bytes received (they extend a body's deadline).
    pub(crate) fn received(&self, n: usize) {
        if let Wait::Body { got, .. } = &mut *self.lock() {
            *got += n as u64;
        }
    }

    /// How long the next read may block (`None`: forever), or a `TimedOut` error when the time
    /// for what the connection waits for is up.
    pub(crate) fn budget(&self, now: Instant) -> io::Result<Option<Duration>> {
        let (per_read, deadline) = match self.get() {
            Wait::Idle => (self.idle, None),
            Wait::Head(since) => (self.head, self.head.map(|t| since + t)),
            Wait::Body { since, got } => {
                let extra = match self.body_min_rate {
                    0 => Duration::ZERO,
                    rate => Duration::from_millis(got.saturating_mul(1000) / rate),
                };
                (self.body, self.body.map(|t| since + t + extra))
            }
            Wait::Linger(until) => (None, Some(until)),
        };
        let left = match deadline {
            Some(deadline) => match deadline.checked_duration_since(now) {
                Some(left) if left >= MIN_WAIT => Some(left),
                _ => return Err(timed_out()),
            },
            None => None,
        };
        Ok(match (per_read, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wait> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.wait.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The error every client-side timeout surfaces as.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client took too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            idle_timeout: Some(Duration::from_secs(100)),
            head_timeout: Some(Duration::from_secs(10)),
            body_timeout: Some(Duration::from_secs(20)),
            body_min_rate: 1000,
            ..Limits::default()
        }
    }

    #[test]
    fn idle_waits_its_timeout_per_read() {
        let t = ReadTimer::new(&limits());
        let now = Instant::now();
        assert_eq!(t.budget(now).unwrap(), Some(Duration::from_secs(100)));
        assert_eq!(t.budget(now + Duration::from_secs(1000)).unwrap(), Some(Duration::from_secs(100)));
    }

    #[test]
    fn a_head_has_a_deadline_from_its_first_byte() {
        let t = ReadTimer::new(&limits());
        let start = Instant::now();
        t.set(Wait::Head(start));
        assert_eq!(t.budget(start).unwrap(), Some(Duration::from_secs(10)));
        assert_eq!(t.budget(start + Duration::from_secs(7)).unwrap(), Some(Duration::from_secs(3)));
        let err = t.budget(start + Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_body_gets_one_second_more_per_min_rate_bytes() {
        let t = ReadTimer::new(&limits());
        let start = Instant::now();
        t.set(Wait::Body { since: start, got: 0 });
        assert!(t.budget(start + Duration::from_secs(20)).is_err());
        t.received(30_500); // 30.5 s more
        let at = start + Duration::from_secs(45);
        assert_eq!(t.budget(at).unwrap(), Some(Duration::from_millis(5500)));
        // A stall is still bounded by the timeout itself.
        assert_eq!(t.budget(start).unwrap(), Some(Duration::from_secs(20)));
        assert!(t.budget(start + Duration::from_secs(51)).is_err());
    }

    #[test]
    fn no_timeouts_means_forever() {
        let t = ReadTimer::new(&Limits::default());
        let start = Instant::now();
        for w in [Wait::Idle, Wait::Head(start), Wait::Body { since: start, got: 0 }] {
            t.set(w);
            assert_eq!(t.budget(start + Duration::from_secs(1 << 20)).unwrap(), None);
        }
    }
}
