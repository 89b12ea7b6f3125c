//! ChatGPT usage limits, as the backend reports them in `x-codex-*` headers on every reply
//! (successes and errors alike, 429s included).
//!
//! The latest report is kept in a [`Tracker`] owned by the [`Upstream`](crate::upstream::Upstream)
//! and served as JSON by `GET /usage`; `codex-claude-proxy status` reads it back. A warning is
//! logged once when a window's usage crosses 80 % and again at 95 %, so a user who only watches
//! the proxy's stderr hears about it before requests start failing with 429.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock;

/// Usage levels that earn a warning, lowest first.
const THRESHOLDS: [f64; 2] = [80.0, 95.0];

/// One rate-limit window (the short "5h" one is primary, the weekly one secondary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub used_percent: f64,
    #[serde(default)]
    pub window_minutes: Option<u64>,
    /// When the window resets, Unix seconds.
    #[serde(default)]
    pub resets_at: Option<u64>,
}

/// Purchased credits, when the backend says anything about them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credits {
    #[serde(default)]
    pub has_credits: Option<bool>,
    #[serde(default)]
    pub unlimited: Option<bool>,
    #[serde(default)]
    pub balance: Option<String>,
}

/// Everything one reply said about the account's limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(default)]
    pub primary: Option<Window>,
    #[serde(default)]
    pub secondary: Option<Window>,
    #[serde(default)]
    pub credits: Option<Credits>,
    #[serde(default)]
    pub limit_name: Option<String>,
    /// When the reply carrying this arrived, Unix seconds.
    pub seen_at: u64,
}

/// Reads the `x-codex-*` headers through `get` (a case-insensitive header lookup). `None` when
/// the reply carried no usage information at all, so a header-less reply (the model list, a
/// proxy in between) does not wipe what an earlier one said.
pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>, now: u64) -> Option<Snapshot> {
    let snap = Snapshot {
        primary: window(&get, "primary", now),
        secondary: window(&get, "secondary", now),
        credits: credits(&get),
        limit_name: get("x-codex-limit-name")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        seen_at: now,
    };
    let empty = snap.primary.is_none()
        && snap.secondary.is_none()
        && snap.credits.is_none()
        && snap.limit_name.is_none();
    (!empty).then_some(snap)
}

fn window<'a>(get: &impl Fn(&str) -> Option<&'a str>, which: &str, now: u64) -> Option<Window> {
    let field = |name: &str| {
        get(&format!("x-codex-{which}-{name}"))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let used = field("used-percent").and_then(|v| v.parse::<f64>().ok());
    let minutes = field("window-minutes").and_then(|v| v.parse::<u64>().ok());
    // Older backends (2025) sent the seconds until the reset instead of the instant.
    let resets_at = field("reset-at")
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| {
            field("reset-after-seconds")
                .and_then(|v| v.parse::<u64>().ok())
                .map(|s| now.saturating_add(s))
        });
    // The Codex CLI's rule: a window all zeros and without a reset time is not reported.
    let used_percent = used.filter(|p| p.is_finite()).unwrap_or(0.0);
    if used_percent == 0.0 && minutes.unwrap_or(0) == 0 && resets_at.is_none() {
        return None;
    }
    Some(Window {
        used_percent,
        window_minutes: minutes,
        resets_at,
    })
}

fn credits<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Option<Credits> {
    let flag = |name: &str| match get(name)?.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    };
    let c = Credits {
        has_credits: flag("x-codex-credits-has-credits"),
        unlimited: flag("x-codex-credits-unlimited"),
        balance: get("x-codex-credits-balance")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    };
    (c.has_credits.is_some() || c.unlimited.is_some() || c.balance.is_some()).then_some(c)
}

/// The latest snapshot and which warnings were already logged.
#[derive(Default)]
pub struct Tracker {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    latest: Option<Snapshot>,
    /// Highest threshold already warned about, per window (primary, secondary); 0 for none.
    warned: [f64; 2],
}

impl Tracker {
    /// Records the limits an upstream reply reported, if any.
    pub fn observe(&self, headers: &ureq::http::HeaderMap) {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(snap) = parse(get, clock::unix_now()) {
            self.record(snap);
        }
    }

    /// Stores `snap` as the latest report and logs newly crossed thresholds.
    pub fn record(&self, snap: Snapshot) {
        let warnings = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for (i, (w, role)) in [(&snap.primary, "primary"), (&snap.secondary, "secondary")]
                .into_iter()
                .enumerate()
            {
                let Some(w) = w else { continue };
                let level = THRESHOLDS
                    .iter()
                    .rev()
                    .copied()
                    .find(|t| w.used_percent >= *t)
                    .unwrap_or(0.0);
                if level > state.warned[i] {
                    out.push(warning(w, role, level, snap.seen_at));
                }
                // Falling below again means the window reset: warn afresh next time it fills.
                state.warned[i] = level;
            }
            state.latest = Some(snap);
            out
        };
        for w in warnings {
            log::warn!("{w}");
        }
    }

    /// The latest report, if any reply carried one.
    pub fn latest(&self) -> Option<Snapshot> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .latest
            .clone()
    }

    /// The `GET /usage` body: the snapshot plus `"available": true`, or `{"available": false}`
    /// before any reply reported limits. Times are Unix seconds.
    pub fn to_json(&self) -> Value {
        match self.latest() {
            Some(s) => {
                let mut v = serde_json::to_value(&s).unwrap_or_else(|_| json!({}));
                v["available"] = json!(true);
                v
            }
            None => json!({"available": false}),
        }
    }
}

fn warning(w: &Window, role: &str, level: f64, now: u64) -> String {
    let reset = match w.resets_at {
        Some(at) => format!("; resets {}", reset_text(at, now)),
        None => String::new(),
    };
    format!(
        "ChatGPT usage: {} limit {:.0}% used (past {level:.0}%){reset}",
        window_name(w, role),
        w.used_percent
    )
}

/// `2026-11-25T16:47:16Z (in 2h 10m)`.
pub fn reset_text(at: u64, now: u64) -> String {
    if at > now {
        format!("{} (in {})", clock::rfc3339(at), human_duration(at - now))
    } else {
        format!("{} (passed)", clock::rfc3339(at))
    }
}

/// What users call a window: "5h", "weekly", else its length; `role` when the length is unknown.
pub fn window_name(w: &Window, role: &str) -> String {
    match w.window_minutes {
        Some(10_080) => "weekly".into(),
        Some(m) if m > 0 && m % 1440 == 0 => format!("{}-day", m / 1440),
        Some(m) if m > 0 && m % 60 == 0 => format!("{}h", m / 60),
        Some(m) if m > 0 => format!("{m}-minute"),
        _ => role.into(),
    }
}

/// `45s`, `12m`, `2h 10m`, `3d 4h`: precise enough for a reset or an expiry.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Human-readable lines describing `s`, for `status`.
pub fn describe(s: &Snapshot, now: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for (w, role) in [(&s.primary, "primary"), (&s.secondary, "secondary")] {
        let Some(w) = w else { continue };
        let reset = w
            .resets_at
            .map(|at| format!(", resets {}", reset_text(at, now)))
            .unwrap_or_default();
        lines.push(format!(
            "{} limit: {:.0}% used{reset}",
            window_name(w, role),
            w.used_percent
        ));
    }
    if let Some(c) = &s.credits {
        let text = if c.unlimited == Some(true) {
            "unlimited".to_owned()
        } else {
            match (&c.balance, c.has_credits) {
                (Some(b), _) => format!("balance {b}"),
                (None, Some(true)) => "available".to_owned(),
                (None, _) => "none".to_owned(),
            }
        };
        lines.push(format!("credits: {text}"));
    }
    if let Some(name) = &s.limit_name {
        lines.push(format!("limit name: {name}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<&'static str> {
        let pairs = pairs.to_vec();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    #[test]
    fn parses_current_and_older_headers() {
        let get = headers(&[
            ("x-codex-primary-used-percent", "42.5"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1764100000"),
            ("x-codex-secondary-used-percent", "10"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-secondary-reset-after-seconds", "600"),
            ("x-codex-credits-has-credits", "False"),
            ("x-codex-credits-unlimited", "0"),
            ("x-codex-credits-balance", " 12.5 "),
            ("x-codex-limit-name", "codex"),
        ]);
        let s = parse(get, 1_000).unwrap();
        assert_eq!(
            s.primary,
            Some(Window {
                used_percent: 42.5,
                window_minutes: Some(300),
                resets_at: Some(1_764_100_000)
            })
        );
        assert_eq!(s.secondary.as_ref().unwrap().resets_at, Some(1_600));
        assert_eq!(
            s.credits,
            Some(Credits {
                has_credits: Some(false),
                unlimited: Some(false),
                balance: Some("12.5".into())
            })
        );
        assert_eq!(s.limit_name.as_deref(), Some("codex"));
        assert_eq!(s.seen_at, 1_000);
    }

    #[test]
    fn empty_windows_and_replies_are_not_reported() {
        assert!(parse(headers(&[("content-type", "text/event-stream")]), 5).is_none());
        let s = parse(
            headers(&[
                ("x-codex-primary-used-percent", "0"),
                ("x-codex-primary-window-minutes", "0"),
                ("x-codex-secondary-used-percent", "3"),
            ]),
            5,
        )
        .unwrap();
        assert!(s.primary.is_none());
        assert_eq!(s.secondary.unwrap().used_percent, 3.0);
        assert!(parse(headers(&[("x-codex-primary-used-percent", "NaN")]), 5).is_none());
    }

    #[test]
    fn warns_once_per_threshold_and_again_after_a_reset() {
        let t = Tracker::default();
        assert_eq!(t.to_json(), json!({"available": false}));
        let snap = |p: f64| Snapshot {
            primary: Some(Window {
                used_percent: p,
                window_minutes: Some(300),
                resets_at: None,
            }),
            secondary: None,
            credits: None,
            limit_name: None,
            seen_at: 1,
        };
        let warned = |t: &Tracker| t.state.lock().unwrap().warned[0];
        t.record(snap(50.0));
        assert_eq!(warned(&t), 0.0);
        t.record(snap(81.0));
        assert_eq!(warned(&t), 80.0);
        t.record(snap(85.0));
        assert_eq!(warned(&t), 80.0);
        t.record(snap(99.0));
        assert_eq!(warned(&t), 95.0);
        t.record(snap(2.0));
        assert_eq!(warned(&t), 0.0);
        let v = t.to_json();
        assert_eq!(v["available"], true);
        assert_eq!(v["primary"]["used_percent"], 2.0);
        assert_eq!(v["seen_at"], 1);
        let back: Snapshot = serde_json::from_value(v).unwrap();
        assert_eq!(back, snap(2.0));
    }

    #[test]
    fn human_text() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(7_800), "2h 10m");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
        assert_eq!(
            reset_text(1_764_089_236 + 7_800, 1_764_089_236),
            "2025-11-25T18:57:16Z (in 2h 10m)"
        );
        let w = |m| Window {
            used_percent: 1.0,
            window_minutes: m,
            resets_at: None,
        };
        assert_eq!(window_name(&w(Some(300)), "primary"), "5h");
        assert_eq!(window_name(&w(Some(10_080)), "secondary"), "weekly");
        assert_eq!(window_name(&w(None), "secondary"), "secondary");
        let s = Snapshot {
            primary: Some(w(Some(300))),
            secondary: None,
            credits: Some(Credits {
                has_credits: Some(false),
                unlimited: None,
                balance: None,
            }),
            limit_name: None,
            seen_at: 0,
        };
        assert_eq!(
            describe(&s, 0),
            ["5h limit: 1% used", "credits: none"].map(String::from)
        );
        assert!(warning(&w(Some(300)), "primary", 80.0, 0).contains("5h limit 1% used"));
    }
}
