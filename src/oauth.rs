//! OAuth wire pieces shared by the token refresh ([`crate::auth`]), `login` and `status`: the
//! Codex CLI's client id, the POST to a token endpoint, and reading (or, for tests and fakes,
//! making) a JWT's claims. Signatures are never checked here: the backend does that.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use serde_json::Value;

/// The Codex CLI's public OAuth client id.
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// POSTs `body` to an OAuth endpoint; the status and the JSON answer (`null` when not JSON),
/// read up to 1 MiB; all of it within `timeout` when given.
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Option<Duration>,
) -> Result<(u16, Value), String> {
    let mut request = agent.post(url);
    if timeout.is_some() {
        // The whole exchange within `timeout`, however the agent bounds single reads (the
        // upstream agent's per-read bound is its ping interval, far shorter).
        request = request
            .config()
            .timeout_global(timeout)
            .timeout_per_read(None)
            .build();
    }
    let sent = request.header("Content-Type", content_type).send(body);
    let mut resp = sent.map_err(|e| match e {
        ureq::Error::Timeout(_) => format!("{url} did not answer in time"),
        e => format!("cannot reach {url}: {e}"),
    })?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| format!("reading the answer of {url}: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// An unsigned JWT (`alg: none`) carrying `claims`: what test fixtures and fake servers hand
/// out as tokens. The proxy only ever reads claims; it never needs a real signature.
pub fn unsigned_jwt(claims: &Value) -> String {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.sig",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    )
}

/// The payload of a JWT, without verifying it (the backend does that).
pub fn jwt_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD_INDIFFERENT.decode(payload).ok()?).ok()
}
