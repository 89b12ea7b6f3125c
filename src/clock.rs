//! Wall-clock helpers: Unix time and RFC 3339 timestamps, without a date-time dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    unix_now_precise().as_secs()
}

/// Time since the Unix epoch, with sub-second precision.
pub fn unix_now_precise() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// `2026-11-25T16:47:16Z` for a Unix time (UTC).
pub fn rfc3339(secs: u64) -> String {
    let (date, rem) = civil(secs);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-25T16:47:16.123Z`, for log lines.
pub fn rfc3339_millis(t: Duration) -> String {
    let (date, rem) = civil(t.as_secs());
    let ms = t.subsec_millis();
    format!(
        "{date}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The date (`YYYY-MM-DD`) and the seconds into that day.
fn civil(secs: u64) -> (String, u64) {
    let days = (secs / 86_400) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (format!("{year:04}-{month:02}-{day:02}"), secs % 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_089_236), "2025-11-25T16:47:16Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_millis(Duration::from_millis(1_500)),
            "1970-01-01T00:00:01.500Z"
        );
    }
}
