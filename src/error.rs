//! The one error type, and the one place where an error becomes an HTTP status and an Anthropic
//! error body (`{"type":"error","error":{"type":...,"message":...}}`). Upstream failures are
//! classified here too, so the whole mapping table (README "Errors") lives in one file.

use std::fmt;

use serde_json::Value;

/// What to do about a missing, expired or revoked ChatGPT login: the one sentence every message
/// (proxy errors, `status`, the launcher) uses.
pub const LOGIN_ADVICE: &str = "sign in with `codex-claude-proxy login` or `codex login` \
     (add `--device-auth` on a machine without a browser)";

/// Everything that can go wrong while serving a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The client's request is malformed or asks for something impossible (400).
    BadRequest(String),
    /// The prompt does not fit the model's context window (400, Claude Code compacts on it).
    PromptTooLong {
        tokens: Option<u64>,
        limit: Option<u64>,
    },
    /// Missing or rejected credentials, ours or the client's (401).
    Auth(String),
    /// The backend refused the account or request (403).
    Permission(String),
    /// Unknown route (404).
    NotFound(String),
    /// The request body is over the configured cap (413).
    TooLarge(usize),
    /// Usage or rate limit hit (429); `retry_after` in seconds when known.
    RateLimited {
        message: String,
        retry_after: Option<u64>,
    },
    /// The backend or the proxy is over capacity (529).
    Overloaded(String),
    /// The upstream did not answer in time (504).
    Timeout(String),
    /// The client was too slow sending its request (408).
    ClientTimeout(String),
    /// The upstream failed or sent something unusable (5xx).
    Upstream { status: u16, message: String },
}

impl Error {
    /// HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) | Error::PromptTooLong { .. } => 400,
            Error::Auth(_) => 401,
            Error::Permission(_) => 403,
            Error::NotFound(_) => 404,
            Error::TooLarge(_) => 413,
            Error::RateLimited { .. } => 429,
            Error::Overloaded(_) => 529,
            Error::Timeout(_) => 504,
            Error::ClientTimeout(_) => 408,
            Error::Upstream { status, .. } => *status,
        }
    }

    /// Anthropic `error.type` for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::BadRequest(_) | Error::PromptTooLong { .. } => "invalid_request_error",
            Error::Auth(_) => "authentication_error",
            Error::Permission(_) => "permission_error",
            Error::NotFound(_) => "not_found_error",
            Error::TooLarge(_) => "request_too_large",
            Error::RateLimited { .. } => "rate_limit_error",
            Error::Overloaded(_) => "overloaded_error",
            Error::Timeout(_) | Error::ClientTimeout(_) => "timeout_error",
            Error::Upstream { .. } => "api_error",
        }
    }

    /// Whether retrying the same request can succeed: the `x-should-retry` header, which makes
    /// Claude Code (and the SDKs) give up at once on errors only the user can fix (a login, a
    /// setting, the request itself) instead of retrying them for minutes.
    pub fn should_retry(&self) -> bool {
        match self {
            Error::BadRequest(_)
            | Error::PromptTooLong { .. }
            | Error::Auth(_)
            | Error::Permission(_)
            | Error::NotFound(_)
            | Error::TooLarge(_) => false,
            Error::RateLimited { .. }
            | Error::Overloaded(_)
            | Error::Timeout(_)
            | Error::ClientTimeout(_)
            | Error::Upstream { .. } => true,
        }
    }

    /// Seconds for a `retry-after` header, when the client should wait before retrying.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The Anthropic error envelope, as sent in a JSON body or an SSE `error` event.
    pub fn to_json(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "type": "error",
            "error": {"type": self.kind(), "message": self.to_string()},
        });
        body.to_string().into_bytes()
    }

    /// Classifies a non-2xx upstream answer. `now` is the current Unix time (for `resets_at`).
    /// Credentials echoed in the body are redacted first.
    pub fn from_upstream(status: u16, body: &str, now: u64) -> Error {
        let body = &crate::redact::scrub(body);
        let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let err = &json["error"];
        let message = err["message"]
            .as_str()
            .or_else(|| json["detail"].as_str())
            .or_else(|| json["message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| snippet(body));
        let code = code_of(err);
        if is_context_overflow(code, &message) {
            return Error::PromptTooLong {
                tokens: None,
                limit: None,
            };
        }
        match status {
            400 | 404 | 409 | 413 | 422 => Error::BadRequest(message),
            401 => Error::Auth(format!(
                "the ChatGPT backend rejected the access token ({message}); {LOGIN_ADVICE}"
            )),
            403 => Error::Permission(format!(
                "the ChatGPT backend refused the request: {message}"
            )),
            429 => rate_limited(err, &message, now),
            500 => Error::Upstream {
                status: 500,
                message: format!("upstream error: {message}"),
            },
            502..=504 => Error::Overloaded(format!(
                "the ChatGPT backend is unavailable ({status}): {message}"
            )),
            _ if status >= 500 => Error::Upstream {
                status: 502,
                message: format!("upstream error {status}: {message}"),
            },
            _ => Error::Upstream {
                status: 502,
                message: format!("unexpected upstream status {status}: {message}"),
            },
        }
    }

    /// Classifies an in-stream failure (`response.failed` or an `error` event) by its error object.
    pub fn from_stream_failure(err: &Value, now: u64) -> Error {
        let message = crate::redact::scrub(
            err["message"]
                .as_str()
                .unwrap_or("the upstream response failed"),
        );
        let code = code_of(err);
        if is_context_overflow(code, &message) {
            return Error::PromptTooLong {
                tokens: None,
                limit: None,
            };
        }
        match code {
            "usage_limit_reached"
            | "rate_limit_exceeded"
            | "insufficient_quota"
            | "usage_not_included" => rate_limited(err, &message, now),
            "server_is_overloaded" | "slow_down" => Error::Overloaded(message),
            "invalid_prompt" | "cyber_policy" | "invalid_request_error" => {
                Error::BadRequest(message)
            }
            _ => Error::Upstream {
                status: 500,
                message: format!("upstream error: {message}"),
            },
        }
    }
}

/// An error object's code: `code`, else `type` (the backend uses both).
fn code_of(err: &Value) -> &str {
    err["code"]
        .as_str()
        .or_else(|| err["type"].as_str())
        .unwrap_or("")
}

fn is_context_overflow(code: &str, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code == "context_length_exceeded"
        || code == "context_too_large"
        || m.contains("exceeds the context window")
        || m.contains("maximum context length")
}

fn rate_limited(err: &Value, message: &str, now: u64) -> Error {
    let reset_in = err["resets_at"]
        .as_u64()
        .filter(|&at| at > now)
        .map(|at| at - now)
        .or_else(|| err["resets_in_seconds"].as_u64());
    let message = match reset_in {
        Some(secs) => format!(
            "{message} (ChatGPT usage limit; resets in {})",
            human_duration(secs)
        ),
        None => message.to_owned(),
    };
    Error::RateLimited {
        message,
        retry_after: reset_in,
    }
}

fn human_duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs.div_ceil(60)),
        _ => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// The first 300 characters of a body, on one line, for error messages.
fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None if one_line.is_empty() => "(empty body)".to_owned(),
        None => one_line,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PromptTooLong {
                tokens: Some(t),
                limit: Some(l),
            } => {
                write!(f, "prompt is too long: {t} tokens > {l} maximum")
            }
            Error::PromptTooLong { .. } => f.write_str(
                "prompt is too long: the conversation exceeds the model's context window",
            ),
            Error::TooLarge(cap) => write!(f, "request body is larger than the {cap} byte limit"),
            Error::BadRequest(m)
            | Error::Auth(m)
            | Error::Permission(m)
            | Error::NotFound(m)
            | Error::Overloaded(m)
            | Error::Timeout(m)
            | Error::ClientTimeout(m)
            | Error::RateLimited { message: m, .. }
            | Error::Upstream { message: m, .. } => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/upstream/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn envelope_shape() {
        let v: Value =
            serde_json::from_slice(&Error::NotFound("no route".into()).to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"error","error":{"type":"not_found_error","message":"no route"}})
        );
    }

    #[test]
    fn upstream_mapping_table() {
        let now = 1_777_972_827 - 3600;
        let cases: [(u16, &str, u16, &str); 7] = [
            (
                400,
                "error_400_instructions_required.json",
                400,
                "invalid_request_error",
            ),
            (
                400,
                "error_400_model_not_supported.json",
                400,
                "invalid_request_error",
            ),
            (
                400,
                "error_400_context_length_exceeded.json",
                400,
                "invalid_request_error",
            ),
            (
                401,
                "error_401_token_expired.json",
                401,
                "authentication_error",
            ),
            (
                404,
                "error_404_item_not_persisted.json",
                400,
                "invalid_request_error",
            ),
            (
                429,
                "error_429_usage_limit_reached.json",
                429,
                "rate_limit_error",
            ),
            (
                503,
                "error_400_unsupported_parameter.json",
                529,
                "overloaded_error",
            ),
        ];
        for (status, file, want_status, want_kind) in cases {
            let e = Error::from_upstream(status, &fixture(file), now);
            assert_eq!(
                (e.status(), e.kind()),
                (want_status, want_kind),
                "{file}: {e}"
            );
        }
        let e = Error::from_upstream(429, &fixture("error_429_usage_limit_reached.json"), now);
        assert_eq!(e.retry_after(), Some(3600));
        assert!(e.to_string().contains("resets in 1h 0m"), "{e}");
        let e = Error::from_upstream(400, &fixture("error_400_context_length_exceeded.json"), now);
        assert!(e.to_string().starts_with("prompt is too long"), "{e}");
        let e = Error::from_upstream(401, "", now);
        assert!(e.to_string().contains("codex login"));
        let e = Error::from_upstream(403, "<html>Just a moment...</html>", now);
        assert_eq!((e.status(), e.kind()), (403, "permission_error"));
        let e = Error::from_upstream(500, "boom", now);
        assert_eq!((e.status(), e.kind()), (500, "api_error"));
    }

    #[test]
    fn prompt_too_long_exact_form() {
        let e = Error::PromptTooLong {
            tokens: Some(250_000),
            limit: Some(200_000),
        };
        assert_eq!(
            e.to_string(),
            "prompt is too long: 250000 tokens > 200000 maximum"
        );
    }

    #[test]
    fn stream_failures() {
        let v: Value = serde_json::json!({"code":"context_length_exceeded","message":"Your input exceeds the context window of this model."});
        assert!(matches!(
            Error::from_stream_failure(&v, 0),
            Error::PromptTooLong { .. }
        ));
        let v = serde_json::json!({"type":"usage_limit_reached","message":"You've hit your usage limit.","resets_in_seconds":300});
        let e = Error::from_stream_failure(&v, 0);
        assert_eq!((e.status(), e.retry_after()), (429, Some(300)));
        let v = serde_json::json!({"code":"server_error","message":"oops"});
        assert_eq!(Error::from_stream_failure(&v, 0).kind(), "api_error");
    }

    #[test]
    fn snippet_is_bounded() {
        let long = "x ".repeat(1000);
        assert!(snippet(&long).chars().count() <= 301);
        assert_eq!(snippet("  "), "(empty body)");
    }
}
