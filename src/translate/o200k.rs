//! Estimated `o200k_base` token count of a text, the tokenizer of the Codex models, without
//! shipping its 3.6 MB vocabulary: a scan that cuts the text where the tokenizer's pre-tokenizer
//! does and charges each piece its average cost (fitted on exact counts, `tests/tokens.rs`).

/// Estimated `o200k_base` tokens of a text.
///
/// The tokenizer first cuts text into pre-tokens with a regex: a word (letters, with the one
/// blank or mark before it), a group of up to three digits, a run of punctuation or symbols
/// (with one space before it and the line breaks after it), or a run of whitespace. Then it
/// merges each pre-token's bytes with its vocabulary. This scan finds the same pre-tokens and,
/// having no vocabulary, charges each one what such pre-tokens cost on average: a word by its
/// script and length, a digit group one token, punctuation by its length, an emoji about two.
/// The costs were fitted on exact counts of sample texts in twenty classes (prose in a dozen
/// scripts, code, diffs, JSON, minified JS, blobs, numbers, whitespace, emoji), see
/// `tests/tokens.rs`; they lean towards counting a little high, the safe side for a client
/// deciding what fits.
pub fn text(s: &str) -> u64 {
    let mut scan = Scan {
        s,
        i: 0,
        tokens: 0.0,
        ascii_words: 0,
        ascii_letters: 0,
        past_free: [0; 2],
        accented_words: 0,
        random_end: 0,
        random_hex: false,
    };
    while scan.i < s.len() {
        scan.step();
    }
    // Plain ASCII words cost more in a text that is not English: the more words with accented
    // letters it has, the more its other words are charged like those of other languages.
    let foreignness =
        (ACCENT * scan.accented_words as f64 / (scan.ascii_letters as f64 / 5.0).max(1.0)).min(1.0);
    let cost = |script: Script, past_free: usize| {
        let (_, rate) = word_params(script);
        scan.ascii_words as f64 + past_free as f64 * rate
    };
    let english = cost(Script::Ascii, scan.past_free[0]);
    let foreign = cost(Script::Foreign, scan.past_free[1]);
    let words = english + foreignness * (foreign - english);
    (scan.tokens + words).round() as u64
}

/// How the pre-tokenizer sees a character.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Upper- or titlecase letter: starts a word, or continues a run of capitals.
    Upper,
    /// Lowercase letter: continues a word.
    Lower,
    /// Letter without case (CJK, Arabic, Thai…) or combining mark: both.
    Caseless,
    Digit,
    Newline,
    /// Whitespace other than a line break.
    Blank,
    /// Punctuation, symbols, emoji.
    Symbol,
}

impl Class {
    fn letter(self) -> bool {
        matches!(self, Class::Upper | Class::Lower | Class::Caseless)
    }
}

/// Writing systems, by how many vocabulary merges o200k has for them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Ascii,
    /// Latin letters with diacritics.
    Latin,
    Greek,
    Cyrillic,
    Hebrew,
    Arabic,
    /// Devanagari and the other Brahmic scripts of India.
    Indic,
    Thai,
    Han,
    /// A CJK word with kana in it: Japanese.
    Kana,
    Hangul,
    Other,
    /// Letters in a run that looks random (base64, identifiers with digits).
    Random,
    /// Letters a–f in a run of hexadecimal.
    Hex,
    /// ASCII words in a text whose other words have accents.
    Foreign,
}

/// A word of `len` characters costs `1 + max(0, len - free) / per`: (free, 1 / per) by script.
fn word_params(script: Script) -> (f64, f64) {
    match script {
        Script::Ascii => (ENGLISH_FREE as f64, 1.0 / 7.9),
        Script::Foreign => (FOREIGN_FREE as f64, 1.0 / 4.0),
        Script::Latin => (3.0, 1.0 / 3.0),
        Script::Greek => (2.5, 1.0 / 2.5),
        Script::Cyrillic => (0.5, 1.0 / 7.0),
        Script::Hebrew => (2.0, 1.0 / 2.5),
        Script::Arabic => (1.0, 1.0 / 6.0),
        Script::Indic => (3.0, 1.0 / 2.8),
        Script::Thai => (3.0, 1.0 / 2.0),
        Script::Han => (0.0, 1.0 / 1.5),
        Script::Kana => (1.0, 1.0 / 1.3),
        Script::Hangul => (1.0, 1.0 / 1.45),
        Script::Other => (0.0, 1.0),
        Script::Random => (1.0, 1.0 / 2.0),
        Script::Hex => (2.0, 1.0 / 2.0),
    }
}

const ENGLISH_FREE: usize = 6;
const FOREIGN_FREE: usize = 4;

fn word_cost(script: Script, len: usize) -> f64 {
    let (free, rate) = word_params(script);
    1.0 + (len as f64 - free).max(0.0) * rate
}

/// How strongly accented words make a text's plain ASCII words count as foreign.
const ACCENT: f64 = 2.0;
/// A 4-byte symbol (emoji), a variation selector after one, and the space before a non-ASCII
/// symbol (rarely merged with it).
const EMOJI: f64 = 1.8;
const VARIATION_SELECTOR: f64 = 0.6;
const SPACE_BEFORE_SYMBOL: f64 = 0.5;

/// What a non-ASCII symbol costs: common punctuation is one token, arrows and box drawing a
/// little more, dingbats and emoji about two.
fn symbol_cost(c: u32) -> f64 {
    match c {
        0xFE00..=0xFE0F => VARIATION_SELECTOR,
        ..0x800 | 0x2000..0x2070 | 0x3000..0x3040 | 0xFF00..0xFF66 => 1.0,
        0x2190..0x2600 => 1.4,
        0x10000.. => EMOJI,
        _ => 1.9,
    }
}

/// What an ASCII blank or mark before a word adds to it: a space or tab merges with the word,
/// `.` or `_` almost always, brackets and operators rarely.
fn prefix_cost(c: u8) -> f64 {
    match c {
        b' ' | b'\t' | b'_' | b'\\' | b'\'' | b'#' => 0.0,
        b'.' => 0.05,
        b'(' => 0.1,
        b'-' => 0.2,
        b',' | b')' => 0.25,
        b'=' | b'%' => 0.35,
        b'/' | b'[' | b';' => 0.4,
        b':' => 0.5,
        b'"' | b'+' | b'@' => 0.6,
        b'?' => 0.7,
        b'|' | b'<' | b'>' => 0.9,
        b'{' | b'}' | b'`' | b'&' | b'!' => 1.0,
        _ => 0.5,
    }
}

/// A run of `n` ASCII punctuation characters: pairs like `("` or `":"` are one token, longer
/// runs split about every 2.4 characters.
fn punct_cost(n: usize) -> f64 {
    match n {
        0 => 0.0,
        1 | 2 => 1.0,
        3 => 1.2,
        _ => 0.42 * n as f64 - 0.2,
    }
}

/// One character: its class, script and UTF-8 length.
#[derive(Clone, Copy)]
struct Char {
    class: Class,
    script: Script,
    code: u32,
    len: usize,
}

/// Classes of the ASCII characters, looked up by byte.
static ASCII: [Class; 128] = {
    let mut t = [Class::Symbol; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b'A'..=b'Z' => Class::Upper,
            b'a'..=b'z' => Class::Lower,
            b'0'..=b'9' => Class::Digit,
            b'\n' | b'\r' => Class::Newline,
            b' ' | b'\t' | 0x0b | 0x0c => Class::Blank,
            _ => Class::Symbol,
        };
        b += 1;
    }
    t
};

/// A non-ASCII character.
fn classify(c: char) -> Char {
    let code = c as u32;
    let len = c.len_utf8();
    let script = match code {
        ..0x250 | 0x300..0x370 | 0x1E00..0x1F00 => Script::Latin,
        0x370..0x400 | 0x1F00..0x2000 => Script::Greek,
        0x400..0x530 => Script::Cyrillic,
        0x590..0x600 => Script::Hebrew,
        0x600..0x700 | 0x750..0x780 => Script::Arabic,
        0x900..0xE00 => Script::Indic,
        0xE00..0xF00 => Script::Thai,
        0x3040..0x3100 | 0xFF66..0xFFA0 => Script::Kana,
        0x3400..0xA000 | 0xF900..0xFB00 | 0x20000..0x30000 => Script::Han,
        0x1100..0x1200 | 0x3130..0x3190 | 0xAC00..0xD7B0 => Script::Hangul,
        _ => Script::Other,
    };
    let class = if let Some(class) = block_class(script, code) {
        class
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_lowercase() {
        Class::Lower
    } else if c.is_whitespace() {
        Class::Blank
    } else if (0xFE00..=0xFE0F).contains(&code) {
        // A variation selector is a mark, but costs like part of the emoji before it.
        Class::Symbol
    } else if c.is_alphabetic() || is_mark(code) {
        Class::Caseless
    } else if c.is_numeric() {
        Class::Digit
    } else {
        Class::Symbol
    };
    Char {
        class,
        script,
        code,
        len,
    }
}

/// In the caseless scripts' blocks everything is a letter or mark except a few digits and
/// punctuation marks (std's `is_alphabetic` misses some of their vowel marks, and is slow).
fn block_class(script: Script, code: u32) -> Option<Class> {
    let (digit, punct) = match script {
        Script::Han | Script::Hangul => (false, false),
        Script::Kana => (false, matches!(code, 0x30A0 | 0x30FB)),
        Script::Hebrew => (
            false,
            matches!(code, 0x5BE | 0x5C0 | 0x5C3 | 0x5C6 | 0x5F3 | 0x5F4),
        ),
        Script::Arabic => (
            matches!(code, 0x660..=0x669 | 0x6F0..=0x6F9),
            matches!(code, 0x600..=0x60F | 0x61B..=0x61F | 0x66A..=0x66D | 0x6D4 | 0x6DD | 0x6DE | 0x6E9),
        ),
        Script::Indic => (
            matches!(code & 0x7F, 0x66..=0x6F),
            matches!(code & 0x7F, 0x64 | 0x65 | 0x70),
        ),
        Script::Thai => (
            matches!(code, 0xE50..=0xE59 | 0xED0..=0xED9),
            matches!(code, 0xE3F | 0xE4F | 0xE5A | 0xE5B),
        ),
        _ => return None,
    };
    Some(if digit {
        Class::Digit
    } else if punct {
        Class::Symbol
    } else {
        Class::Caseless
    })
}

/// Combining marks outside the script blocks above (accents, kana voicing marks).
fn is_mark(code: u32) -> bool {
    matches!(
        code,
        0x300..=0x36F
            | 0x483..=0x489
            | 0x1AB0..=0x1AFF
            | 0x1DC0..=0x1DFF
            | 0x20D0..=0x20FF
            | 0x3099..=0x309A
            | 0xFE20..=0xFE2F
    )
}

/// The scan of one text.
struct Scan<'a> {
    s: &'a str,
    i: usize,
    /// Tokens of everything but plain ASCII words.
    tokens: f64,
    /// Plain ASCII words, costed as English and as another language.
    ascii_words: usize,
    ascii_letters: usize,
    /// Letters past the free length of the English and of the foreign cost (see `word_cost`).
    past_free: [usize; 2],
    accented_words: usize,
    /// End of the current run of random-looking letters and digits, and whether it is hex.
    random_end: usize,
    random_hex: bool,
}

impl Scan<'_> {
    #[inline(always)]
    fn at(&self, i: usize) -> Option<Char> {
        let b = *self.s.as_bytes().get(i)?;
        if b < 0x80 {
            return Some(Char {
                class: ASCII[b as usize],
                script: Script::Ascii,
                code: b as u32,
                len: 1,
            });
        }
        self.wide(i)
    }

    #[inline(never)]
    fn wide(&self, i: usize) -> Option<Char> {
        self.s.get(i..)?.chars().next().map(classify)
    }

    #[inline(always)]
    fn class_at(&self, i: usize) -> Option<Class> {
        let b = *self.s.as_bytes().get(i)?;
        if b < 0x80 {
            return Some(ASCII[b as usize]);
        }
        self.wide(i).map(|c| c.class)
    }

    /// Scans one pre-token from `self.i`.
    fn step(&mut self) {
        let Some(c) = self.at(self.i) else {
            self.i = self.s.len();
            return;
        };
        let next = self.class_at(self.i + c.len);
        if c.class.letter()
            || matches!(c.class, Class::Blank | Class::Symbol) && next.is_some_and(Class::letter)
        {
            self.word(c);
        } else if c.class == Class::Digit {
            let start = self.i;
            let digits = self.skip(|c| c == Class::Digit);
            self.check_random(start);
            self.tokens += digits.div_ceil(3) as f64;
        } else if c.class == Class::Symbol || c.code == 0x20 && next == Some(Class::Symbol) {
            self.symbols(c.code == 0x20);
        } else {
            self.whitespace();
        }
    }

    /// A word: an optional blank or mark, capitals, then lowercase letters (caseless letters
    /// and marks count as both).
    fn word(&mut self, c: Char) {
        let prefix = !c.class.letter();
        if prefix {
            self.tokens += if c.code < 0x80 {
                prefix_cost(c.code as u8)
            } else if c.class == Class::Symbol {
                symbol_cost(c.code)
            } else {
                0.5
            };
            self.i += c.len;
        }
        let first = self.i;
        let (script, len) = self.letters();
        self.check_random(first);
        match script {
            Script::Ascii if first < self.random_end => {
                let kind = if self.random_hex {
                    Script::Hex
                } else {
                    Script::Random
                };
                self.tokens += word_cost(kind, len);
            }
            Script::Ascii => {
                self.ascii_words += 1;
                self.ascii_letters += len;
                self.past_free[0] += len.saturating_sub(ENGLISH_FREE);
                self.past_free[1] += len.saturating_sub(FOREIGN_FREE);
            }
            script => {
                if script == Script::Latin {
                    self.accented_words += 1;
                }
                self.tokens += word_cost(script, len);
            }
        }
    }

    /// The letters of a word from `self.i`: capitals first, then lowercase letters; caseless
    /// letters and marks go with both. Returns the word's script and length in characters.
    fn letters(&mut self) -> (Script, usize) {
        // Fast path for plain ASCII words; a non-ASCII character after one takes the slow path.
        let b = self.s.as_bytes();
        let mut end = self.i;
        while b.get(end).is_some_and(u8::is_ascii_uppercase) {
            end += 1;
        }
        while b.get(end).is_some_and(u8::is_ascii_lowercase) {
            end += 1;
        }
        if b.get(end).is_none_or(|&c| c < 0x80) {
            let len = end - self.i;
            self.i = end;
            return (Script::Ascii, len);
        }
        let (mut script, mut len, mut lower) = (Script::Ascii, 0, false);
        while let Some(c) = self.at(self.i) {
            match c.class {
                Class::Upper if !lower => {}
                Class::Lower => lower = true,
                Class::Caseless => {}
                _ => break,
            }
            if c.script != Script::Ascii {
                script = match (script, c.script) {
                    (Script::Ascii | Script::Latin, s) => s,
                    (Script::Han, Script::Kana) => Script::Kana,
                    (s, _) => s,
                };
            }
            len += 1;
            self.i += c.len;
        }
        (script, len)
    }

    /// A run of punctuation and symbols, with one space before it and line breaks and slashes
    /// after it.
    fn symbols(&mut self, space: bool) {
        let b = self.s.as_bytes();
        if space {
            self.i += 1;
            if b.get(self.i).is_some_and(|&x| x >= 0x80)
                && self.at(self.i).is_some_and(|n| n.code >= 0x2000)
            {
                self.tokens += SPACE_BEFORE_SYMBOL;
            }
        }
        let mut ascii = 0;
        loop {
            match b.get(self.i) {
                Some(&x) if x < 0x80 => {
                    if ASCII[x as usize] != Class::Symbol {
                        break;
                    }
                    ascii += 1;
                    self.i += 1;
                }
                Some(_) => match self.wide(self.i) {
                    Some(c) if c.class == Class::Symbol => {
                        self.tokens += symbol_cost(c.code);
                        self.i += c.len;
                    }
                    _ => break,
                },
                None => break,
            }
        }
        self.tokens += punct_cost(ascii);
        if space && ascii >= 2 {
            self.tokens += 0.3;
        }
        while matches!(b.get(self.i), Some(b'\n' | b'\r' | b'/')) {
            self.i += 1;
        }
    }

    /// A run of whitespace: up to its last line break one token (long runs more), then the
    /// blanks after it, except the last blank before a word or mark: that one starts it.
    fn whitespace(&mut self) {
        let start = self.i;
        self.skip(|c| matches!(c, Class::Blank | Class::Newline));
        let run = &self.s.as_bytes()[start..self.i];
        let mut rest = run;
        if let Some(last) = run.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            let newlines = run[..=last]
                .iter()
                .filter(|&&b| b == b'\n' || b == b'\r')
                .count();
            self.tokens += (newlines as f64 / 15.0 + (last + 1 - newlines) as f64 / 60.0).max(1.0);
            rest = &run[last + 1..];
        }
        if rest.is_empty() {
            return;
        }
        if let Some(next) = self.class_at(self.i) {
            let last = *rest.last().unwrap_or(&b' ');
            if next.letter() || next == Class::Symbol && last == b' ' {
                // Non-ASCII blanks are rare; stepping back one byte only works for ASCII.
                if last < 0x80 {
                    self.i -= 1;
                    rest = &rest[..rest.len() - 1];
                }
            } else if rest.len() >= 2 && last < 0x80 {
                self.tokens += 1.0;
                rest = &rest[..rest.len() - 1];
            }
        }
        if !rest.is_empty() {
            let tabs = rest.iter().filter(|&&b| b == b'\t').count();
            self.tokens += (tabs as f64 / 14.0 + (rest.len() - tabs) as f64 / 80.0).max(1.0);
        }
    }

    /// Called after the first pre-token of a run of ASCII letters and digits (from `i` to
    /// `self.i`), decides whether the run looks random (base64, hashes, ids): at least eight
    /// long, with a digit, and a change between case or between letters and digits at least
    /// every three characters. Its letters are then charged as fragments, not words.
    #[inline(always)]
    fn check_random(&mut self, i: usize) {
        let b = self.s.as_bytes();
        let alnum = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
        if !alnum(self.i)
            || i < self.random_end
            || !alnum(i + 7)
            || !alnum(i)
            || i > 0 && alnum(i - 1)
        {
            return; // one word or number alone, or shorter than eight: not random
        }
        self.random_run(i);
    }

    fn random_run(&mut self, i: usize) {
        let b = self.s.as_bytes();
        let alnum = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
        let (mut end, mut changes) = (i + 1, 0);
        while alnum(end) {
            let (prev, c) = (b[end - 1], b[end]);
            if prev.is_ascii_digit() != c.is_ascii_digit()
                || prev.is_ascii_lowercase() != c.is_ascii_lowercase()
            {
                changes += 1;
            }
            end += 1;
        }
        let run = &b[i..end];
        if run.len() >= 8 && changes * 3 >= run.len() && run.iter().any(u8::is_ascii_digit) {
            self.random_end = end;
            self.random_hex = run.iter().all(u8::is_ascii_hexdigit);
        }
    }

    /// Moves past the characters whose class passes; returns how many there were.
    #[inline(always)]
    fn skip(&mut self, pass: impl Fn(Class) -> bool) -> usize {
        let b = self.s.as_bytes();
        let mut n = 0;
        loop {
            match b.get(self.i) {
                Some(&x) if x < 0x80 => {
                    if !pass(ASCII[x as usize]) {
                        break;
                    }
                    self.i += 1;
                }
                Some(_) => match self.wide(self.i) {
                    Some(c) if pass(c.class) => self.i += c.len,
                    _ => break,
                },
                None => break,
            }
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tokens_are_found_as_o200k_cuts_them() {
        assert_eq!(text(""), 0);
        assert_eq!(text("Hello"), 1);
        // Digits in groups of three; a blank before a digit is a token of its own.
        assert_eq!(text("1234567"), 3);
        assert_eq!(text("a  1"), 4);
        assert_eq!(text(&" ".repeat(10)), 1);
        assert_eq!(
            text(&"The quick brown fox jumps over the lazy dog. ".repeat(100)),
            1001
        );
    }

    #[test]
    fn random_runs_cost_more_than_words() {
        // Exact o200k counts: a PNG header in base64 is 53 tokens, a sha256 in hex 43; their
        // letters cut at every case or digit change are charged as fragments, not words.
        let b64 = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGO4IyeHFTEMLQkAid1GAXiz9RcAAAAASUVORK5CYII=";
        assert!((45..=65).contains(&text(b64)), "{}", text(b64));
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert!((36..=50).contains(&text(hex)), "{}", text(hex));
        // Same length, ordinary identifiers: far fewer.
        assert!(text("get_user_by_identifier_and_then_update_the_profile_with_new_value") < 25);
    }
}
