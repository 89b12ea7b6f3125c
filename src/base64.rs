//! Base64: lenient decoding (standard and URL-safe alphabets, padding optional) for JWT payloads
//! and image headers, and URL-safe encoding without padding for PKCE. Decoding stops at the
//! first byte outside the alphabet.

/// Base64url without padding (RFC 4648 §5).
pub fn encode_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            s.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    s
}

/// Decodes up to `limit` bytes of `input`.
pub fn decode(input: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit.min(input.len() * 3 / 4 + 3));
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn encode_round_trips() {
        for input in [&b""[..], b"f", b"fo", b"foo", b"\xfb\xff", b"hello world"] {
            assert_eq!(decode(super::encode_url(input).as_bytes(), 100), input);
        }
        assert_eq!(super::encode_url(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn both_alphabets_and_limits() {
        assert_eq!(decode(b"aGVsbG8=", 100), b"hello");
        assert_eq!(decode(b"aGVsbG8", 100), b"hello");
        assert_eq!(decode(b"-_-_", 100), decode(b"+/+/", 100));
        assert_eq!(decode(b"aGVsbG8", 2), b"he");
        assert_eq!(decode(b"", 10), b"");
    }
}
