//! Removes credentials from text the proxy did not write (upstream error bodies and messages)
//! before it reaches a client or a log line: a backend or a middlebox that echoes the request's
//! headers must not hand the user's ChatGPT token to whoever reads the error. Pure.
//!
//! Redacted: the token after `Bearer`; the value of any `…authorization`, `…token`, `…api_key`,
//! `…secret`, `…cookie` key (`key: value`, `key=value`, `"key": "value"`; an auth scheme word
//! before the value is kept); JWTs (`eyJ….….…`); `sk-…` API keys.

const MARK: &str = "[redacted]";

/// Keys whose values are secrets (compared with the end of the key, lower case).
const SECRET_KEYS: [&str; 7] = [
    "authorization",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "secret",
    "cookie",
];

/// `text` with every credential replaced by `[redacted]`.
pub fn scrub(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        match secret_at(b, i) {
            Some((start, end)) => {
                out.push_str(&text[copied..start]);
                out.push_str(MARK);
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Characters of a token value (base64, base64url, hex, JWT dots and the like).
fn token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~+/=".contains(&c)
}

fn run(b: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    b[from..].iter().take_while(|&&c| pred(c)).count()
}

fn starts_with_ci(b: &[u8], at: usize, word: &str) -> bool {
    b.get(at..at + word.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(word.as_bytes()))
}

/// The byte range of a secret that starts (or whose key ends) at `i`, if any. Ranges always
/// start and end at ASCII bytes, so slicing the text there is safe.
fn secret_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let boundary = i == 0 || !token_char(b[i - 1]);
    if boundary && b[i..].starts_with(b"eyJ") {
        let seg = |from: usize| {
            run(b, from, |c| {
                c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
            })
        };
        let a = i + seg(i);
        if b.get(a) == Some(&b'.') {
            let m = a + 1 + seg(a + 1);
            if m > a + 1 && b.get(m) == Some(&b'.') {
                return Some((i, m + 1 + seg(m + 1)));
            }
        }
    }
    if boundary && b[i..].starts_with(b"sk-") {
        let n = run(b, i + 3, token_char);
        if n >= 16 {
            return Some((i, i + 3 + n));
        }
    }
    if boundary && starts_with_ci(b, i, "bearer") {
        let spaces = run(b, i + 6, |c| c == b' ' || c == b'\t');
        let n = run(b, i + 6 + spaces, token_char);
        if spaces > 0 && n > 0 {
            let start = i + 6 + spaces;
            return Some((start, start + n));
        }
    }
    if b[i] == b':' || b[i] == b'=' {
        return keyed_value(b, i);
    }
    None
}

/// For a `:` or `=` at `sep` that follows a secret key: the range of its value.
fn keyed_value(b: &[u8], sep: usize) -> Option<(usize, usize)> {
    // The key, before optional spaces and a closing quote.
    let mut k = sep;
    while k > 0 && b[k - 1] == b' ' {
        k -= 1;
    }
    if k > 0 && (b[k - 1] == b'"' || b[k - 1] == b'\'') {
        k -= 1;
    }
    let key_end = k;
    while k > 0 && (b[k - 1].is_ascii_alphanumeric() || b[k - 1] == b'_' || b[k - 1] == b'-') {
        k -= 1;
    }
    let key = String::from_utf8_lossy(&b[k..key_end]).to_ascii_lowercase();
    if key.is_empty() || !SECRET_KEYS.iter().any(|s| key.ends_with(s)) {
        return None;
    }
    // The value, after optional spaces, an opening quote and an auth scheme word.
    let mut v = sep + 1;
    v += run(b, v, |c| c == b' ');
    if b.get(v).is_some_and(|&c| c == b'"' || c == b'\'') {
        v += 1;
    }
    for scheme in ["bearer", "basic", "token"] {
        if starts_with_ci(b, v, scheme) && b.get(v + scheme.len()) == Some(&b' ') {
            v += scheme.len() + 1;
            v += run(b, v, |c| c == b' ');
            break;
        }
    }
    let n = run(b, v, |c| !b" \t\r\n\"',;&}]".contains(&c));
    (n > 0).then_some((v, v + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_and_headers() {
        assert_eq!(
            scrub("bad header Authorization: Bearer eyJhbGci.eyJzdWIi.c2ln, retry"),
            "bad header Authorization: Bearer [redacted], retry"
        );
        assert_eq!(
            scrub("got bearer abc123 from you"),
            "got bearer [redacted] from you"
        );
        assert_eq!(
            scrub(r#"{"headers":{"authorization":"Bearer xyz.abc","x":"1"}}"#),
            r#"{"headers":{"authorization":"Bearer [redacted]","x":"1"}}"#
        );
        assert_eq!(
            scrub("Proxy-Authorization=Basic dXNlcjpwYXNz&next=1"),
            "Proxy-Authorization=Basic [redacted]&next=1"
        );
    }

    #[test]
    fn token_fields_jwts_and_keys() {
        assert_eq!(
            scrub(r#"{"refresh_token": "rt_abc", "access_token":"at", "note": "token: fine"}"#),
            r#"{"refresh_token": "[redacted]", "access_token":"[redacted]", "note": "token: [redacted]"}"#
        );
        assert_eq!(
            scrub("invalid eyJhbGciOiJub25lIn0.eyJleHAiOjF9.sig here"),
            "invalid [redacted] here"
        );
        assert_eq!(
            scrub("key sk-proj-abcdefghijklmnop1234 rejected"),
            "key [redacted] rejected"
        );
    }

    #[test]
    fn ordinary_messages_are_untouched() {
        for m in [
            "Provided authentication token is expired. Please try signing in again.",
            "The 'gpt-9' model is not supported when using Codex with a ChatGPT account.",
            "Unsupported parameter: max_tokens",
            "ratio 3:2, a=b, sk-short, eyJ alone, Bearer",
            "<html>Just a moment...</html>",
            "émoji ✓ token",
        ] {
            assert_eq!(scrub(m), m);
        }
    }
}
