//! Text on its way from the client's JSON to the backend's, without copies: a string is kept as
//! the JSON literal it arrived as and written out again byte for byte (never unescaped, never
//! re-escaped) unless the proxy had to build it; a tool call's input stays the raw JSON it
//! arrived as and is written as the `arguments` string directly (no `Value` tree, whatever its
//! size). Pure.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A string of the request, or one the proxy made.
#[derive(Debug, Clone)]
pub enum Text<'a> {
    /// A JSON string literal from the request body, quotes included.
    Raw(&'a RawValue),
    /// Text the proxy holds as a Rust string.
    Plain(Cow<'a, str>),
}

impl<'a> Text<'a> {
    /// `raw` if it is a JSON string literal.
    pub fn literal(raw: &'a RawValue) -> Option<Text<'a>> {
        raw.get().starts_with('"').then_some(Text::Raw(raw))
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Text::Raw(r) => r.get() == "\"\"",
            Text::Plain(t) => t.is_empty(),
        }
    }

    /// The text itself (unescaped; borrowed when the literal has no escapes).
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Text::Raw(r) => unescape(r),
            Text::Plain(t) => Cow::Borrowed(t),
        }
    }

    /// The text itself, for as long as the request lives.
    pub fn into_str(self) -> Cow<'a, str> {
        match self {
            Text::Raw(r) => unescape(r),
            Text::Plain(t) => t,
        }
    }

    /// The bytes that identify this text (the literal, or the text): for memoizing.
    pub fn key(&self) -> &[u8] {
        match self {
            Text::Raw(r) => r.get().as_bytes(),
            Text::Plain(t) => t.as_bytes(),
        }
    }
}

/// The content of a JSON string literal: a slice of it when it has no escapes.
fn unescape(raw: &RawValue) -> Cow<'_, str> {
    unescape_literal(raw.get())
}

/// The content of a JSON string literal (quotes included): a slice of it when it has no escapes.
pub(crate) fn unescape_literal(literal: &str) -> Cow<'_, str> {
    match literal.get(1..literal.len().saturating_sub(1)) {
        Some(inner) if !inner.contains('\\') => Cow::Borrowed(inner),
        _ => Cow::Owned(serde_json::from_str::<String>(literal).unwrap_or_default()),
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text::Plain(Cow::Owned(s))
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text::Plain(Cow::Borrowed(s))
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Raw(r) => r.serialize(s),
            Text::Plain(t) => s.serialize_str(t),
        }
    }
}

/// An image or file: a `data:` URL built from the client's base64 (written out without an
/// intermediate copy of it), or a plain URL.
#[derive(Debug, Clone)]
pub enum Url<'a> {
    Data { media: String, base64: Cow<'a, str> },
    Plain(String),
}

impl Url<'_> {
    /// Bytes of the URL as sent.
    pub fn encoded_len(&self) -> usize {
        match self {
            Url::Data { media, base64 } => "data:;base64,".len() + media.len() + base64.len(),
            Url::Plain(u) => u.len(),
        }
    }
}

impl Serialize for Url<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Url::Data { media, base64 } => {
                s.collect_str(&format_args!("data:{media};base64,{base64}"))
            }
            Url::Plain(u) => s.serialize_str(u),
        }
    }
}

/// A tool call's `arguments`: the client's JSON `input` as a JSON string, or `{}` when there is
/// none.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a>(pub Option<&'a RawValue>);

impl Args<'_> {
    /// The JSON text of the arguments as they are sent (whitespace between tokens dropped).
    pub fn json(&self) -> Cow<'_, str> {
        match self.0 {
            Some(r) if r.get() != "null" => {
                let raw = r.get();
                if spaced(raw) {
                    Cow::Owned(Compact(raw).to_string())
                } else {
                    Cow::Borrowed(raw)
                }
            }
            _ => Cow::Borrowed("{}"),
        }
    }
}

impl Serialize for Args<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.json())
    }
}

/// Whether valid JSON text has whitespace between its tokens (Claude Code's never has: compact
/// input passes as it is). Strings are skipped with a SIMD search for their closing quote, so
/// the text inside them (most of a tool input) is never looked at byte by byte.
fn spaced(json: &str) -> bool {
    let b = json.as_bytes();
    let mut i = 0;
    loop {
        let quote = memchr::memchr(b'"', &b[i..]).map_or(b.len(), |q| i + q);
        if b[i..quote].iter().any(u8::is_ascii_whitespace) {
            return true;
        }
        // Inside the string: up to its closing quote, stepping over escapes.
        let mut j = quote + 1;
        loop {
            match memchr::memchr2(b'"', b'\\', b.get(j..).unwrap_or_default()) {
                None => return false,
                Some(k) if b[j + k] == b'\\' => j += k + 2,
                Some(k) => {
                    j += k + 1;
                    break;
                }
            }
        }
        i = j;
    }
}

/// Valid JSON text without the whitespace between its tokens (strings untouched).
struct Compact<'a>(&'a str);

impl fmt::Display for Compact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.as_bytes();
        let (mut start, mut i, mut in_string) = (0, 0, false);
        while i < b.len() {
            match b[i] {
                b'\\' if in_string => i += 1, // the escaped byte is never a quote that ends it
                b'"' => in_string = !in_string,
                b' ' | b'\t' | b'\n' | b'\r' if !in_string => {
                    f.write_str(&self.0[start..i])?;
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        f.write_str(&self.0[start.min(b.len())..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whitespace_between_tokens_counts_as_spaced() {
        for compact in [
            r#"{"command":"ls -la /tmp","description":"List files"}"#,
            r#"{"a":"say \"hi there\"","b":[1,2,{"c":"x y"}]}"#,
            r#"{"path":"C:\\dir with space\\"}"#,
            r#"[0,0,0]"#,
            r#""just a string with spaces""#,
            "{}",
        ] {
            assert!(!spaced(compact), "{compact}");
        }
        for loose in [r#"{"a": 1}"#, "[0, 0]", "{\n\"a\":1}", r#"{"a":"x" }"#] {
            assert!(spaced(loose), "{loose}");
        }
        let args = |s: &str| Args(Some(raw(s))).json().into_owned();
        assert_eq!(
            args(r#"{"a": "x y", "b" :[1, 2]}"#),
            r#"{"a":"x y","b":[1,2]}"#
        );
        assert!(matches!(
            Args(Some(raw(r#"{"a":"x y"}"#))).json(),
            Cow::Borrowed(_)
        ));
        assert_eq!(args("null"), "{}");
    }

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn raw_text_is_written_as_it_came() {
        let r = raw(r#""a\nb \u00e9 \"q\"""#);
        let t = Text::literal(r).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""a\nb \u00e9 \"q\"""#);
        assert_eq!(t.as_str(), "a\nb é \"q\"");
        let plain = Text::literal(raw(r#""plain""#)).unwrap();
        assert!(matches!(plain.as_str(), Cow::Borrowed("plain")));
        assert!(!t.is_empty());
        assert!(Text::literal(raw(r#""""#)).unwrap().is_empty());
        assert!(Text::literal(raw("5")).is_none());
        assert_eq!(
            serde_json::to_string(&Text::from("x\"")).unwrap(),
            r#""x\"""#
        );
    }

    #[test]
    fn arguments_are_compact_json_in_a_string() {
        let r = raw("{ \"cmd\" : \"a  b\\\" c\",\n \"n\": [1, 2] }");
        let args = Args(Some(r));
        assert_eq!(args.json(), r#"{"cmd":"a  b\" c","n":[1,2]}"#);
        assert_eq!(
            serde_json::to_string(&args).unwrap(),
            r#""{\"cmd\":\"a  b\\\" c\",\"n\":[1,2]}""#
        );
        assert_eq!(serde_json::to_string(&Args(None)).unwrap(), r#""{}""#);
        assert_eq!(Args(Some(raw("null"))).json(), "{}");
        // Key order is the client's.
        assert_eq!(
            Args(Some(raw(r#"{"b":1,"a":2}"#))).json(),
            r#"{"b":1,"a":2}"#
        );
    }
}
