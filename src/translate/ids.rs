//! Names and opaque strings that cross the boundary in both directions: tool names the backend
//! would reject, call ids, and the thinking-block signature that carries the backend's encrypted
//! reasoning to the client and back. Every mapping here is reversible or self-checking, so the
//! proxy keeps no state between requests.

use std::collections::HashMap;

/// Longest tool name / call id the backend accepts.
const MAX_NAME: usize = 64;

/// FNV-1a, 64 bit: a stable, dependency-free hash for names and checksums (not for security).
pub fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The name the backend sees for a client tool name: unchanged when valid, otherwise invalid
/// characters become `_` and an over-long name keeps its start plus a hash of the original.
pub fn upstream_name(name: &str) -> String {
    if is_valid_name(name) {
        return name.to_owned();
    }
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // The hash keeps names apart that differ only in replaced or cut-off characters.
    let hash = fnv64(name.as_bytes()) & 0xffff_ffff_ffff;
    let head: String = clean.chars().take(MAX_NAME - 13).collect();
    format!("{head}_{hash:012x}")
}

/// Maps backend tool names back to the client's names, for the tools of one request.
#[derive(Debug, Default, Clone)]
pub struct ToolNames {
    back: HashMap<String, String>,
}

impl ToolNames {
    /// Records `original` and returns the name to send upstream.
    pub fn add(&mut self, original: &str) -> String {
        let up = upstream_name(original);
        if up != original {
            self.back.insert(up.clone(), original.to_owned());
        }
        up
    }

    /// The client's name for a name the backend used.
    pub fn original<'a>(&'a self, upstream: &'a str) -> &'a str {
        self.back
            .get(upstream)
            .map(String::as_str)
            .unwrap_or(upstream)
    }
}

/// The call id sent upstream for a client `tool_use.id`; ids are kept when valid, so the
/// backend's `call_…` ids round-trip unchanged through Claude Code.
pub fn upstream_call_id(id: &str) -> String {
    if is_valid_name(id) {
        id.to_owned()
    } else {
        upstream_name(id)
    }
}

/// Prefix of signatures minted by this proxy (version 1).
const SIG_PREFIX: &str = "cxp1.";

/// Packs encrypted reasoning into a thinking-block signature: `cxp1.<model>.<checksum>.<data>`.
/// The model is kept because encrypted reasoning is only valid for the model that made it.
pub fn encode_signature(model: &str, encrypted: &str) -> String {
    let sum = fnv64(format!("{model}\n{encrypted}").as_bytes());
    format!("{SIG_PREFIX}{model}.{sum:016x}.{encrypted}")
}

/// Unpacks a signature made by [`encode_signature`] for `model`. Anything else (a real
/// Anthropic signature, a truncated one, another model's) gives `None` and is dropped.
pub fn decode_signature<'a>(signature: &'a str, model: &str) -> Option<&'a str> {
    let rest = signature.strip_prefix(SIG_PREFIX)?;
    let rest = rest.strip_prefix(model)?.strip_prefix('.')?;
    let (sum, data) = rest.split_once('.')?;
    let want = fnv64(format!("{model}\n{data}").as_bytes());
    (u64::from_str_radix(sum, 16).ok()? == want && !data.is_empty()).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_pass_through() {
        for n in ["Bash", "mcp__github__create_issue", "a-b_c"] {
            assert_eq!(upstream_name(n), n);
        }
    }

    #[test]
    fn bad_names_are_mapped_reversibly() {
        let long = format!("mcp__{}__tool", "x".repeat(80));
        let mut names = ToolNames::default();
        for original in [long.as_str(), "my.tool", "my tool", "über", ""] {
            let up = names.add(original);
            assert!(is_valid_name(&up), "{original:?} -> {up:?}");
            assert_eq!(names.original(&up), original);
        }
        assert_ne!(upstream_name("my.tool"), upstream_name("my tool"));
        assert_eq!(names.original("Bash"), "Bash");
    }

    #[test]
    fn signatures_round_trip_and_reject_foreign_ones() {
        let sig = encode_signature("gpt-5.6-sol", "gAAAAB.xyz==");
        assert_eq!(decode_signature(&sig, "gpt-5.6-sol"), Some("gAAAAB.xyz=="));
        assert_eq!(decode_signature(&sig, "gpt-5.5"), None, "other model");
        assert_eq!(
            decode_signature(&sig[..sig.len() - 2], "gpt-5.6-sol"),
            None,
            "truncated"
        );
        assert_eq!(
            decode_signature("EqQBCgIYAhIMfake", "gpt-5.6-sol"),
            None,
            "Anthropic's"
        );
        assert_eq!(decode_signature("", "m"), None);
    }
}
