//! Token estimate for `count_tokens` and for `message_start`, computed on the translated
//! upstream request (what the model really sees): each text estimated by [`text`], plus what
//! the backend adds per item and charges for images, files and encrypted reasoning.
//! `tests/tokens.rs` checks the estimate against exact counts (README "count_tokens").

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use std::collections::HashMap;
use std::sync::Mutex;

use crate::json_text::{Text, Url};
use crate::responses::{Item, Output, Part, Request, Summary};

pub use super::o200k::text;

/// Tokens the backend adds around each input item (role markers and separators).
const PER_ITEM: u64 = 4;
/// An image of unknown size: what a 1024×1024 picture costs.
const DEFAULT_IMAGE: u64 = 765;

/// Estimated input tokens of an upstream request; texts seen before come from `memo`.
pub fn estimate(req: &Request, memo: &Memo) -> u64 {
    count(req, &mut |t: &Text| {
        memo.get_or(t.key(), || text(&t.as_str()))
    })
}

/// Input tokens of an upstream request, with `tokens` counting each text the model reads: the
/// instructions, each tool as JSON, message texts, call names and arguments, tool outputs.
/// Role markers, images, files and encrypted reasoning are costed here, so `tests/tokens.rs` can
/// pass an exact tokenizer's counts and check `text` alone against it.
pub fn count(req: &Request, tokens: &mut impl FnMut(&Text) -> u64) -> u64 {
    let mut n = req
        .instructions
        .as_deref()
        .map_or(0, |i| plain(tokens, i) + PER_ITEM);
    for tool in req.tools.iter().flatten() {
        n += plain(tokens, &serde_json::to_string(tool).unwrap_or_default());
    }
    for item in &req.input {
        n += match item {
            // The lite lane's tool list is the same schema text the full lane sends as `tools`.
            Item::AdditionalTools { tools, .. } => tools
                .iter()
                .map(|t| plain(tokens, &serde_json::to_string(t).unwrap_or_default()))
                .sum(),
            Item::Message { content, .. } => {
                PER_ITEM + content.iter().map(|p| part(p, tokens)).sum::<u64>()
            }
            Item::FunctionCall {
                name, arguments, ..
            } => PER_ITEM + plain(tokens, name) + plain(tokens, &arguments.json()),
            Item::FunctionCallOutput {
                output: Output::Text(t),
                ..
            } => PER_ITEM + tokens(t),
            Item::FunctionCallOutput {
                output: Output::Parts(parts),
                ..
            } => PER_ITEM + parts.iter().map(|p| part(p, tokens)).sum::<u64>(),
            // Encrypted reasoning is re-read by the model: roughly its plaintext size.
            Item::Reasoning {
                summary,
                encrypted_content,
            } => {
                let s: u64 = summary
                    .iter()
                    .map(|Summary::SummaryText { text: t }| plain(tokens, t))
                    .sum();
                PER_ITEM + s + encrypted_content.len() as u64 / 8
            }
        };
    }
    n
}

fn plain(tokens: &mut impl FnMut(&Text) -> u64, s: &str) -> u64 {
    tokens(&Text::from(s))
}

/// Estimates of long texts by a hash of their bytes, kept across requests: Claude Code sends
/// the whole conversation on every turn (and asks `count_tokens` about it), so most of a long
/// history was estimated before. Two generations of at most `MEMO_ENTRIES` each; a hit moves an
/// entry to the current one, and a full current one becomes the old one.
pub struct Memo(Mutex<Generations>);

#[derive(Default)]
struct Generations {
    now: HashMap<u64, u64>,
    old: HashMap<u64, u64>,
}

/// Texts shorter than this are estimated directly (as fast as a lookup).
const MEMO_MIN: usize = 1024;
const MEMO_ENTRIES: usize = 8192;

impl Default for Memo {
    fn default() -> Self {
        Memo(Mutex::new(Generations::default()))
    }
}

impl Memo {
    fn get_or(&self, key: &[u8], estimate: impl FnOnce() -> u64) -> u64 {
        if key.len() < MEMO_MIN {
            return estimate();
        }
        let h = hash(key);
        if let Ok(mut g) = self.0.lock() {
            if let Some(&n) = g.now.get(&h) {
                return n;
            }
            if let Some(n) = g.old.remove(&h) {
                g.now.insert(h, n);
                return n;
            }
        }
        let n = estimate();
        if let Ok(mut g) = self.0.lock() {
            if g.now.len() >= MEMO_ENTRIES {
                g.old = std::mem::take(&mut g.now);
            }
            g.now.insert(h, n);
        }
        n
    }
}

/// A fast 64-bit hash (16 bytes per multiply) for memo keys; the length is mixed in.
fn hash(bytes: &[u8]) -> u64 {
    fn mix(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    }
    const K: [u64; 3] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
    ];
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    let mut h = K[2] ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(16);
    for c in &mut chunks {
        h = mix(word(&c[..8]) ^ K[0] ^ h, word(&c[8..]) ^ K[1]);
    }
    let rest = chunks.remainder();
    let (a, b) = rest.split_at(rest.len().min(8));
    h = mix(word(a) ^ K[0] ^ h, word(b) ^ K[1]);
    mix(h, K[2])
}

fn part(p: &Part, tokens: &mut impl FnMut(&Text) -> u64) -> u64 {
    match p {
        Part::InputText { text: t } | Part::OutputText { text: t } => tokens(t),
        Part::InputImage { image_url } => image(image_url),
        Part::InputFile { file_data, .. } => file_data
            .as_ref()
            .map_or(DEFAULT_IMAGE, |d| d.encoded_len() as u64 / 6),
    }
}

/// Image cost from its pixel size when the header is readable (PNG), else a typical size.
/// OpenAI's rule: scale into 2048×2048, shortest side to 768, then 170 per 512-px tile + 85.
fn image(url: &Url) -> u64 {
    let Url::Data { media, base64 } = url else {
        return DEFAULT_IMAGE;
    };
    if media != "image/png" {
        return DEFAULT_IMAGE;
    }
    // The first 32 characters hold the PNG signature and the IHDR chunk's width and height.
    let Some(head) = base64
        .as_bytes()
        .get(..32)
        .and_then(|b| STANDARD_NO_PAD.decode(b).ok())
    else {
        return DEFAULT_IMAGE;
    };
    if head.len() < 24 || &head[1..4] != b"PNG" {
        return DEFAULT_IMAGE;
    }
    let w = u32::from_be_bytes([head[16], head[17], head[18], head[19]]) as f64;
    let h = u32::from_be_bytes([head[20], head[21], head[22], head[23]]) as f64;
    if w < 1.0 || h < 1.0 {
        return DEFAULT_IMAGE;
    }
    let fit = (2048.0 / w.max(h)).min(1.0);
    let (w, h) = (w * fit, h * fit);
    let short = (768.0 / w.min(h)).min(1.0);
    let (w, h) = (w * short, h * short);
    85 + 170 * ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_size_drives_image_cost() {
        // 8×8 PNG header.
        let url = Url::Data {
            media: "image/png".into(),
            base64: "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAA".into(),
        };
        assert_eq!(image(&url), 85 + 170);
        assert_eq!(
            image(&Url::Plain("https://example.com/a.png".into())),
            DEFAULT_IMAGE
        );
    }

    #[test]
    fn long_texts_are_estimated_once() {
        let memo = Memo::default();
        let long = "fn main() { println!(\"hi\"); }\n".repeat(100);
        let mut runs = 0;
        let mut run = |t: &str| {
            runs += 1;
            text(t)
        };
        let first = memo.get_or(long.as_bytes(), || run(&long));
        assert_eq!(memo.get_or(long.as_bytes(), || run(&long)), first);
        let other = long.replace("hi", "ho");
        memo.get_or(other.as_bytes(), || run(&other));
        memo.get_or(b"short", || run("short"));
        memo.get_or(b"short", || run("short"));
        assert_eq!(
            runs, 4,
            "the long text once, the other once, the short one each time"
        );
        assert_ne!(hash(long.as_bytes()), hash(other.as_bytes()));
        assert_ne!(hash(b"ab"), hash(b"ab\0"));
    }
}
