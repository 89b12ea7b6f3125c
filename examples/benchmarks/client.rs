//! The load client: raw TcpStream, keep-alive, the chunked SSE answer read event by event.

use super::*;

#[derive(Default)]
pub(super) struct Outcome {
    pub(super) ok: bool,
    pub(super) ttfb_ns: u64,
    /// From sending the request to reading the first text delta.
    pub(super) first_delta_ns: u64,
    pub(super) deltas: usize,
    /// Per text delta: time read here minus time the mock wrote it.
    pub(super) delays: Vec<u64>,
}

pub(super) struct Client {
    pub(super) addr: SocketAddr,
    pub(super) conn: Option<(BufReader<TcpStream>, TcpStream)>,
}

impl Client {
    pub(super) fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    pub(super) fn connect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect(self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        CLIENT_CONNECTS.fetch_add(1, Relaxed);
        self.conn = Some((BufReader::with_capacity(64 << 10, s.try_clone()?), s));
        Ok(())
    }

    /// Sends a request; retries once on a fresh connection if a kept-alive one was closed.
    pub(super) fn request(&mut self, method: &str, path: &str, body: &str, n: usize) -> Outcome {
        for attempt in 0..2 {
            let reused = self.conn.is_some();
            if !reused && self.connect().is_err() {
                break;
            }
            match self.exchange(method, path, body, n) {
                Ok(Some(o)) => return o,
                Ok(None) if reused && attempt == 0 => self.conn = None, // stale keep-alive: retry
                _ => break,
            }
        }
        self.conn = None;
        Outcome::default()
    }

    /// `Ok(None)`: the connection closed before any answer.
    pub(super) fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
        n: usize,
    ) -> io::Result<Option<Outcome>> {
        let (r, w) = self.conn.as_mut().expect("connected");
        let sent = now_ns();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             anthropic-version: 2023-06-01\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if w.write_all(req.as_bytes()).is_err() {
            return Ok(None);
        }
        let Some((status, headers)) = read_head(r)? else {
            return Ok(None);
        };
        let mut o = Outcome {
            ttfb_ns: now_ns() - sent,
            ..Outcome::default()
        };
        let code = status.split_whitespace().nth(1).unwrap_or("");
        let close = header(&headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut saw_end = false;
        if header(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut sse: Vec<u8> = Vec::new();
            while let Some(chunk) = read_chunk(r)? {
                let at = now_ns();
                sse.extend_from_slice(&chunk);
                // One pass over a chunk that may hold many events.
                let mut from = 0;
                while let Some(end) = sse[from..].windows(2).position(|w| w == b"\n\n") {
                    let deltas = o.deltas;
                    saw_end |= scan_event(&sse[from..from + end + 2], at, &mut o);
                    if deltas == 0 && o.deltas == 1 {
                        o.first_delta_ns = at - sent;
                    }
                    from += end + 2;
                }
                sse.drain(..from);
            }
        } else if let Some(len) =
            header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok())
        {
            let mut body = vec![0; len];
            r.read_exact(&mut body)?;
            saw_end = true;
        } else {
            r.read_to_end(&mut Vec::new())?;
            self.conn = None;
        }
        if close {
            self.conn = None;
        }
        o.ok = code == "200" && saw_end && o.deltas == n;
        Ok(Some(o))
    }
}

/// Records a text delta's delay; true for the stream's terminal event.
pub(super) fn scan_event(event: &[u8], at: u64, o: &mut Outcome) -> bool {
    if let Some(i) = event.windows(2).position(|w| w == b"\"@") {
        let digits = event[i + 2..].iter().take_while(|b| b.is_ascii_digit());
        let ts = digits.fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
        o.delays.push(at.saturating_sub(ts));
        o.deltas += 1;
        return false;
    }
    let has = |s: &[u8]| event.windows(s.len()).any(|w| w == s);
    has(b"message_stop") || has(b"response.completed")
}

pub(super) fn prompt(n: usize, gap_us: u64) -> String {
    let text = format!("bench n={n} gap_us={gap_us}");
    serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": text}]})
    .to_string()
}
