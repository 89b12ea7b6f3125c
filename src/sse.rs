//! Server-sent events: a pull parser over any `BufRead` (the upstream body) and the encoder for
//! the events we send to clients. No HTTP types here, so it runs on byte slices in tests.
//!
//! The parser follows the WHATWG event-stream rules that matter for an API stream:
//! lines end in `\n` or `\r\n`; an empty line dispatches the event; a line starting with `:` is a
//! comment; `field: value` loses exactly one space after the colon; `data` lines are joined with
//! `\n`; an event with no data is not dispatched; comments are reported (as keep-alives). Bare-`\r` line endings are not supported (no API
//! server sends them). An event cut off by EOF (no blank line after it) is still returned: for a
//! proxy a truncated final event is more useful than silence, and the translator decides whether
//! the stream was complete.
//!
//! Bounded: one line, and the data of one event, may not exceed `max_line` bytes; and a caller
//! can set a deadline for the next event, after which [`SseReader::next_event`] returns a
//! `TimedOut` error even while bytes keep trickling in (called again, it resumes where it
//! stopped).

use std::io::{self, BufRead};
use std::ops::Range;
use std::time::Instant;

/// An event whole in the reader's buffer: the ranges of its name and data, and its length.
type Found = (Range<usize>, Range<usize>, usize);

/// One dispatched event, borrowing the parser's buffers until the next call.
#[derive(Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` field, or `""` when the stream did not name the event.
    pub event: &'a str,
    /// The `data:` lines joined with `\n`.
    pub data: &'a str,
    /// True for a `:` comment line (a keep-alive), returned so the caller sees the upstream is
    /// alive; `event` and `data` are empty then.
    pub comment: bool,
}

/// Pull parser that reuses its buffers, so a long stream allocates nothing per event.
///
/// A read error (for example a read timeout) leaves the partial line and event in place, so the
/// caller may call [`SseReader::next_event`] again and continue where it stopped.
pub struct SseReader<R> {
    inner: R,
    max_line: usize,
    deadline: Option<Instant>,
    /// The last read used up the reader's buffer: the next one may wait for the upstream.
    drained: bool,
    /// Bytes of the reader's buffer lent out as the last event, consumed at the next call.
    lent: usize,
    /// The next event, found whole in the reader's buffer by [`SseReader::event_ready`].
    ready: Option<Found>,
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    first_line: bool,
}

impl<R: Buffered> SseReader<R> {
    /// Wraps `inner`; a line, or the data of one event, longer than `max_line` bytes is an
    /// `InvalidData` error.
    pub fn new(inner: R, max_line: usize) -> Self {
        SseReader {
            inner,
            max_line,
            deadline: None,
            drained: true,
            lent: 0,
            ready: None,
            line: Vec::with_capacity(1024),
            event: String::new(),
            data: String::new(),
            has_data: false,
            first_line: true,
        }
    }

    /// From now on, [`SseReader::next_event`] gives up with a `TimedOut` error once `deadline`
    /// has passed without a complete event (checked before each read that may wait for the
    /// upstream, so a blocking read may overrun it by its own timeout). `None`: no deadline.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The underlying reader, with whatever it still buffers.
    pub fn into_inner(mut self) -> R {
        self.inner.consume(std::mem::take(&mut self.lent));
        self.inner
    }

    /// Clears the event dispatched by the previous call, which was lent out until now.
    fn release(&mut self) {
        if self.has_data {
            self.has_data = false;
            self.event.clear();
            self.data.clear();
        }
        self.inner.consume(std::mem::take(&mut self.lent));
    }

    /// Returns the next event, or `None` at the end of the stream.
    pub fn next_event(&mut self) -> io::Result<Option<Event<'_>>> {
        self.release();
        if let Some((name, data, len)) = self.ready.take().or_else(|| self.buffered_event()) {
            self.lent = len;
            self.drained = len == self.inner.buffered().len();
            let b = self.inner.buffered();
            // One UTF-8 check over the lines that hold both (they start and end at ASCII bytes).
            let span = name.start.min(data.start)..name.end.max(data.end);
            let at = |r: &Range<usize>| r.start - span.start..r.end - span.start;
            let text = std::str::from_utf8(&b[span.clone()]).ok();
            return Ok(Some(
                match text.and_then(|t| Some((t.get(at(&name))?, t.get(at(&data))?))) {
                    Some((event, data)) => Event {
                        event,
                        data,
                        comment: false,
                    },
                    None => {
                        // Invalid UTF-8 is replaced, as on the line-by-line way.
                        self.event.push_str(&String::from_utf8_lossy(&b[name]));
                        self.data.push_str(&String::from_utf8_lossy(&b[data]));
                        self.has_data = true;
                        Event {
                            event: &self.event,
                            data: &self.data,
                            comment: false,
                        }
                    }
                },
            ));
        }
        loop {
            let got_line = self.read_line()?;
            if !got_line {
                // EOF. A pending event without its blank line is still handed out (see module doc).
                if self.data.is_empty() && self.event.is_empty() {
                    return Ok(None);
                }
                if self.data.ends_with('\n') {
                    self.data.pop();
                }
                self.has_data = true;
                return Ok(Some(Event {
                    event: &self.event,
                    data: &self.data,
                    comment: false,
                }));
            }
            let mut line: &[u8] = &self.line;
            if line.last() == Some(&b'\n') {
                line = &line[..line.len() - 1];
            }
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if self.first_line {
                self.first_line = false;
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            if line.is_empty() {
                if self.data.is_empty() {
                    // Spec: an event with an empty data buffer is not dispatched.
                    self.event.clear();
                    continue;
                }
                self.data.pop(); // the trailing '\n' appended after the last data line
                self.has_data = true;
                self.line.clear();
                return Ok(Some(Event {
                    event: &self.event,
                    data: &self.data,
                    comment: false,
                }));
            }
            if line[0] == b':' {
                self.line.clear();
                return Ok(Some(Event {
                    event: "",
                    data: "",
                    comment: true,
                }));
            }
            let (name, value) = match line.iter().position(|&b| b == b':') {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &b""[..]),
            };
            // (`from_utf8` first: much faster than `from_utf8_lossy` on valid text)
            let value = match std::str::from_utf8(value) {
                Ok(v) => std::borrow::Cow::Borrowed(v),
                Err(_) => String::from_utf8_lossy(value),
            };
            match name {
                b"data" => {
                    if self.data.len() + value.len() >= self.max_line {
                        self.data.clear();
                        self.event.clear();
                        self.line.clear();
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("upstream sent an event larger than {} bytes", self.max_line),
                        ));
                    }
                    self.data.push_str(&value);
                    self.data.push('\n');
                }
                b"event" => {
                    self.event.clear();
                    self.event.push_str(&value);
                }
                _ => {} // id, retry and unknown fields mean nothing to a proxy
            }
            self.line.clear();
        }
    }

    /// The usual case, an event whose lines are all in the reader's buffer already, lent from
    /// it without copying: the ranges of its name and data and its length. `None` for anything
    /// else (a partial line or event pending, the stream's first line, a comment, several data
    /// lines, no data, an overlong line): the line-by-line path handles those.
    fn buffered_event(&self) -> Option<Found> {
        if self.first_line
            || !self.line.is_empty()
            || !self.data.is_empty()
            || !self.event.is_empty()
        {
            return None;
        }
        let b = self.inner.buffered();
        let (mut pos, mut name, mut data) = (0, 0..0, None);
        loop {
            let nl = pos + memchr::memchr(b'\n', &b[pos..])?;
            let end = if nl > pos && b[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let line = &b[pos..end];
            if line.len() >= self.max_line {
                return None;
            }
            if line.is_empty() {
                return Some((name, data?, nl + 1));
            }
            let (field, value) = match line.iter().position(|&c| c == b':') {
                Some(0) => return None, // a comment
                Some(i) => (
                    &line[..i],
                    pos + i + 1 + usize::from(line.get(i + 1) == Some(&b' ')),
                ),
                None => (line, end),
            };
            match field {
                b"data" if data.is_some() => return None,
                b"data" => data = Some(value..end),
                b"event" => name = value..end,
                _ => {}
            }
            pos = nl + 1;
        }
    }

    /// Reads one line (with its terminator) into `self.line`; false at EOF with nothing read.
    fn read_line(&mut self) -> io::Result<bool> {
        self.line.clear_if_complete();
        loop {
            // Bytes already buffered are read without looking at the clock.
            if self.drained && self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no complete event before the deadline",
                ));
            }
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(!self.line.is_empty());
            }
            let (take, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            self.drained = take == available.len();
            self.line.extend_from_slice(&available[..take]);
            self.inner.consume(take);
            if self.line.len() > self.max_line {
                self.line.clear();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "upstream sent an event line longer than {} bytes",
                        self.max_line
                    ),
                ));
            }
            if done {
                return Ok(true);
            }
        }
    }
}

/// A reader that can show what it has buffered without reading more.
pub trait Buffered: BufRead {
    fn buffered(&self) -> &[u8];
}

impl<T: io::Read> Buffered for io::BufReader<T> {
    fn buffered(&self) -> &[u8] {
        self.buffer()
    }
}

impl Buffered for &[u8] {
    fn buffered(&self) -> &[u8] {
        self
    }
}

impl<R: Buffered> SseReader<R> {
    /// Whether the bytes already read hold the blank line that ends another event, so that
    /// [`SseReader::next_event`] returns it without waiting for the upstream. Cost: up to the
    /// end of that event, which the next call then does not look at again.
    pub fn event_ready(&mut self) -> bool {
        self.release();
        if self.ready.is_none() {
            self.ready = self.buffered_event();
        }
        if self.ready.is_some() {
            return true;
        }
        let b = self.inner.buffered();
        let mut from = 0;
        while let Some(i) = memchr::memchr(b'\n', &b[from..]) {
            let rest = &b[from + i + 1..];
            if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
                return true;
            }
            from += i + 1;
        }
        false
    }
}

/// Lines are cleared after use; a partial line left by a read error must survive.
trait ClearIfComplete {
    fn clear_if_complete(&mut self);
}

impl ClearIfComplete for Vec<u8> {
    fn clear_if_complete(&mut self) {
        if self.last() == Some(&b'\n') {
            self.clear();
        }
    }
}

/// Appends `event: <name>\ndata: <data>\n\n` to `out`; `data` must be one line (JSON is).
pub fn encode(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8]) -> Vec<(String, String)> {
        let mut r = SseReader::new(input, 1 << 20);
        let mut out = Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            if !ev.comment {
                out.push((ev.event.to_string(), ev.data.to_string()));
            }
        }
        out
    }

    #[test]
    fn fields_comments_and_line_endings() {
        let input = b"\xEF\xBB\xBF: keep-alive\nevent: a\ndata: 1\n\nevent:b\r\ndata:x\r\ndata:  y\r\n\r\ndata\n\nid: 7\nretry: 5\nevent: c\n\ndata: z\n";
        assert_eq!(
            collect(input),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x\n y".into()),
                ("".into(), "".into()),
                // `event: c` had no data, so it was dropped and did not leak into the next event.
                ("".into(), "z".into()),
            ]
        );
    }

    #[test]
    fn empty_data_line_dispatches_empty_string() {
        // `data` with no colon is a field with an empty value: a real (empty) event.
        assert_eq!(collect(b"data\n\n"), vec![("".into(), "".into())]);
        assert!(collect(b"\n\n\n").is_empty());
    }

    #[test]
    fn overlong_line_is_an_error() {
        let mut r = SseReader::new(&b"data: 0123456789\n\n"[..], 8);
        let err = r.next_event().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn overlong_event_is_an_error() {
        // Each line is short; together they never end the event.
        let input = b"data: 0123\ndata: 4567\ndata: 89ab\n\n";
        let mut r = SseReader::new(&input[..], 12);
        let err = r.next_event().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("event larger than 12 bytes"),
            "{err}"
        );
        assert_eq!(collect(b"data: 0123\ndata: 4567\n\n").len(), 1);
    }

    /// Hands out one byte per read, as an upstream trickling bytes would.
    struct OneByte<'a>(&'a [u8]);

    impl io::Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn deadline_stops_a_trickle_and_resumes() {
        let input = b"event: a\ndata: 1\n\n";
        let mut r = SseReader::new(io::BufReader::with_capacity(1, OneByte(input)), 1 << 10);
        r.set_deadline(Some(Instant::now()));
        let err = r.next_event().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        r.set_deadline(None);
        let ev = r.next_event().unwrap().unwrap();
        assert_eq!((ev.event, ev.data), ("a", "1"));
    }

    /// A reader that hands out one byte per call and fails every other call, as a flaky socket
    /// with read timeouts would.
    struct Trickle<'a> {
        data: &'a [u8],
        pos: usize,
        fail_next: bool,
    }

    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.fail_next = !self.fail_next;
            if self.fail_next {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "tick"));
            }
            if self.pos == self.data.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.data[self.pos];
            self.pos += 1;
            Ok(1)
        }
    }

    #[test]
    fn resumes_after_read_errors_without_losing_bytes() {
        let input = b"event: a\ndata: {\"x\":1}\n\nevent: b\ndata: 2\n\n";
        let mut r = SseReader::new(
            io::BufReader::with_capacity(
                1,
                Trickle {
                    data: input,
                    pos: 0,
                    fail_next: false,
                },
            ),
            1 << 20,
        );
        let mut got = Vec::new();
        loop {
            match r.next_event() {
                Ok(Some(ev)) if ev.comment => {}
                Ok(Some(ev)) => got.push((ev.event.to_string(), ev.data.to_string())),
                Ok(None) => break,
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            }
        }
        assert_eq!(got, collect(input));
    }

    #[test]
    fn every_fixture_split_at_every_byte_gives_the_same_events() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upstream");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("sse") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let whole = collect(&bytes);
            assert!(!whole.is_empty(), "{}", path.display());
            for cut in 0..=bytes.len() {
                let reader = io::Read::chain(&bytes[..cut], &bytes[cut..]);
                let mut r = SseReader::new(io::BufReader::with_capacity(7, reader), 1 << 20);
                let mut got = Vec::new();
                while let Some(ev) = r.next_event().unwrap() {
                    if !ev.comment {
                        got.push((ev.event.to_string(), ev.data.to_string()));
                    }
                }
                assert_eq!(got, whole, "{} split at {cut}", path.display());
            }
            checked += 1;
        }
        assert!(checked >= 5, "fixtures missing");
    }

    #[test]
    fn invalid_utf8_in_a_buffered_event_is_replaced() {
        // The second and third events lie whole in the buffer: the lending path reads them.
        let input =
            b"event: a\ndata: 1\n\nevent: b\ndata: x\xFFy\n\nevent: c\xC3\ndata: \xE2\x9C\x93\n\n";
        let mut r = SseReader::new(io::BufReader::with_capacity(1024, &input[..]), 1 << 20);
        let mut got = Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            got.push((ev.event.to_string(), ev.data.to_string()));
        }
        let want = [("a", "1"), ("b", "x\u{FFFD}y"), ("c\u{FFFD}", "✓")];
        assert_eq!(got, want.map(|(e, d)| (e.to_string(), d.to_string())));
        // A one-byte buffer never holds a whole event: every event goes line by line.
        let mut r = SseReader::new(io::BufReader::with_capacity(1, &input[..]), 1 << 20);
        let mut by_lines = Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            by_lines.push((ev.event.to_string(), ev.data.to_string()));
        }
        assert_eq!(by_lines, got, "the line-by-line way agrees");
    }

    #[test]
    fn truncated_final_event_is_returned() {
        assert_eq!(
            collect(b"event: a\ndata: 1"),
            vec![("a".into(), "1".into())]
        );
    }

    #[test]
    fn event_ready_sees_a_complete_event_in_the_buffer() {
        let input = b"event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\nevent: c\ndata: 3\n";
        let mut r = SseReader::new(io::BufReader::with_capacity(64, &input[..]), 1 << 20);
        assert!(!r.event_ready(), "nothing read yet");
        assert_eq!(r.next_event().unwrap().unwrap().data, "1");
        assert!(r.event_ready(), "b is buffered, with its blank line");
        assert_eq!(r.next_event().unwrap().unwrap().data, "2");
        assert!(
            !r.event_ready(),
            "c has no blank line yet: reading on would wait"
        );
        assert_eq!(r.next_event().unwrap().unwrap().data, "3");
        assert!(!(SseReader::new(&b"data: x\n"[..], 64).event_ready()));
        assert!(SseReader::new(&b"data: x\n\n"[..], 64).event_ready());
    }

    #[test]
    fn encode_shape() {
        let mut out = Vec::new();
        encode(&mut out, "ping", br#"{"type":"ping"}"#);
        assert_eq!(out, b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }
}
