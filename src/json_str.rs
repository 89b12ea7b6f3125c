//! A string on its way from the backend's events to the client's: the text deltas that make up
//! almost every byte of a stream. When the backend escaped a string exactly as we would, its
//! JSON literal is copied into our event as it is (never decoded and escaped again). Pure.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A string of an upstream event, or one the proxy made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStr<'a> {
    /// A JSON string literal, quotes included, escaped exactly as serde_json escapes (see
    /// [`canonical_len`]): written out as it is.
    Escaped(&'a str),
    /// The text itself.
    Text(Cow<'a, str>),
}

/// Given the bytes after a literal's opening quote, the length of its contents (up to the
/// closing quote) if they are escaped exactly as serde_json would escape their text: `"` and `\`
/// and the control characters `\b \f \n \r \t` by a backslash and letter, and nothing else
/// escaped or raw below U+0020. `None` otherwise (a `\u` escape, `\/`, a raw control character,
/// no closing quote): the caller then decodes the literal the general way.
pub fn canonical_len(inside: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        // From quote or backslash to the next: a SIMD search, then a check without branches.
        let at = i + memchr::memchr2(b'"', b'\\', &inside[i..])?;
        if has_control(&inside[i..at]) {
            return None;
        }
        if inside[at] == b'"' {
            return Some(at);
        }
        match inside.get(at + 1)? {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => i = at + 2,
            _ => return None,
        }
    }
}

/// Whether `bytes` hold a character below U+0020 (written so that it compiles to SIMD compares).
fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |seen, &c| seen | (c < 0x20))
}

impl<'a> JsonStr<'a> {
    pub fn is_empty(&self) -> bool {
        match self {
            JsonStr::Escaped(s) => s.len() == 2,
            JsonStr::Text(t) => t.is_empty(),
        }
    }

    /// The text itself (borrowed unless there are escapes to decode).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            JsonStr::Escaped(s) => crate::json_text::unescape_literal(s),
            JsonStr::Text(t) => Cow::Borrowed(t),
        }
    }

    /// A borrowed copy, for passing on without cloning the text.
    pub fn view(&self) -> JsonStr<'_> {
        match self {
            JsonStr::Escaped(s) => JsonStr::Escaped(s),
            JsonStr::Text(t) => JsonStr::Text(Cow::Borrowed(t)),
        }
    }

    /// Appends the string as a JSON literal, quotes included.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            JsonStr::Escaped(s) => out.extend_from_slice(s.as_bytes()),
            JsonStr::Text(t) => {
                // Writing a str into a Vec cannot fail.
                let _ = serde_json::to_writer(out, t.as_ref());
            }
        }
    }
}

impl<'a> From<&'a str> for JsonStr<'a> {
    fn from(s: &'a str) -> Self {
        JsonStr::Text(Cow::Borrowed(s))
    }
}

impl Serialize for JsonStr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Text<'a> {
            type Value = JsonStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonStr::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonStr::Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Text(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every literal the check accepts is byte for byte what serde_json writes for its text,
    /// and everything serde_json writes is accepted.
    #[test]
    fn accepted_literals_are_serde_jsons_own() {
        let texts = [
            "",
            "plain",
            "say \"hi\"\n\tthen \\ go\r\u{8}\u{c}",
            "é ✓ 😀 \u{7f} \u{2028}",
            "\u{1}\u{1f}",
        ];
        for text in texts {
            let literal = serde_json::to_string(text).unwrap();
            let inside = &literal.as_bytes()[1..];
            match canonical_len(inside) {
                Some(n) => {
                    assert_eq!(n, inside.len() - 1, "{literal}");
                    let s = JsonStr::Escaped(&literal[..n + 2]);
                    assert_eq!(s.text(), text);
                    let mut out = Vec::new();
                    s.write_json(&mut out);
                    assert_eq!(out, literal.as_bytes());
                }
                // serde_json writes \u00XX for the other control characters.
                None => assert!(
                    text.chars()
                        .any(|c| c < ' ' && !"\n\r\t\u{8}\u{c}".contains(c))
                ),
            }
        }
    }

    #[test]
    fn other_escapes_and_raw_controls_are_refused() {
        for inside in [
            &br#"\u00e9""#[..],
            br#"a\/b""#,
            b"tab\there\"",
            br#"no end"#,
            br#"ends in \"#,
            br#"\x""#,
        ] {
            assert_eq!(
                canonical_len(inside),
                None,
                "{}",
                String::from_utf8_lossy(inside)
            );
        }
        assert_eq!(canonical_len(br#"a\"b" tail"#), Some(4));
    }

    #[test]
    fn text_strings_are_escaped_when_written() {
        let mut out = Vec::new();
        JsonStr::from("a\"b\u{1}").write_json(&mut out);
        assert_eq!(out, br#""a\"b\u0001""#);
        assert!(JsonStr::Escaped(r#""""#).is_empty() && JsonStr::from("").is_empty());
        assert_eq!(
            serde_json::to_string(&JsonStr::Escaped(r#""x\ny""#)).unwrap(),
            r#""x\ny""#
        );
        let parsed: JsonStr = serde_json::from_str(r#""a\u00e9""#).unwrap();
        assert_eq!(parsed.text(), "aé");
        assert_eq!(parsed.view(), parsed);
    }
}
