//! The open-file limit (`RLIMIT_NOFILE`): raised from the soft to the hard limit at start, and
//! the cap on requests in flight sized by it, so that a busy proxy answers 529 before it runs
//! out of descriptors (at the usual soft limit of 1024, 400 streams used to exhaust them).

/// Descriptors a request in flight holds: its client connection and its upstream connection
/// (200 concurrent streams held 2.0 per stream; 3.0 before tiny_http's two halves of a
/// connection shared one descriptor), and a margin for the upstream pool's idle connections (up
/// to 64) and idle kept-alive clients.
pub const PER_REQUEST: u64 = 3;

/// Descriptors kept for everything else: the listener, stdio, the log, the token file, and
/// idle kept-alive client connections between their requests.
pub const RESERVE: u64 = 64;

/// Raises the soft open-file limit to the hard limit. Returns the limit now in force (`None`
/// where there is none to read).
pub fn raise() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we pass, nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        let soft = lim.rlim_cur;
        // macOS reports an unlimited hard limit but refuses a soft one above OPEN_MAX.
        for target in [lim.rlim_max, lim.rlim_max.min(10_240)] {
            if target <= soft {
                break;
            }
            let want = libc::rlimit {
                rlim_cur: target,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct we pass.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
                return Some(target);
            }
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How many requests may be in flight with `limit` descriptors: `wanted`, or fewer when the
/// limit cannot hold that many (at least 1).
pub fn cap(wanted: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return wanted;
    };
    let room = limit.saturating_sub(RESERVE) / PER_REQUEST;
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_limit() {
        assert_eq!(cap(512, None), 512);
        assert_eq!(cap(512, Some(1024)), 320);
        assert_eq!(cap(512, Some(1 << 20)), 512);
        assert_eq!(cap(512, Some(256)), 64);
        assert_eq!(cap(512, Some(10)), 1);
        assert_eq!(cap(10, Some(1024)), 10);
    }

    #[cfg(unix)]
    #[test]
    fn raising_keeps_or_grows_the_limit() {
        let mut before = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in `raise`.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) },
            0
        );
        let now = raise().unwrap();
        assert!(now >= before.rlim_cur);
        assert!(now <= before.rlim_max);
    }
}
