//! Lenient base64 decoding (standard and URL-safe alphabets, padding optional) for JWT payloads
//! and image headers. Decoding stops at the first byte outside the alphabet.

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
    fn both_alphabets_and_limits() {
        assert_eq!(decode(b"aGVsbG8=", 100), b"hello");
        assert_eq!(decode(b"aGVsbG8", 100), b"hello");
        assert_eq!(decode(b"-_-_", 100), decode(b"+/+/", 100));
        assert_eq!(decode(b"aGVsbG8", 2), b"he");
        assert_eq!(decode(b"", 10), b"");
    }
}
