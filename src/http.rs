//! Answers on a tiny_http request: the body read under a cap, complete JSON and Anthropic error
//! answers (with `request-id`, `x-should-retry` and `retry-after`), the chunked writer that
//! streams SSE, and the ids they carry. Shared by [`crate::server`], [`crate::handler`] and
//! [`crate::info`].

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use tiny_http::{Header, Request, Response};

use crate::buffers::{Buffer, Buffers};
use crate::clock;
use crate::error::Error;
use crate::translate::ids;

/// What `GET /health` and `GET /` say in `service`, so a probe knows it found this program.
pub const SERVICE: &str = "codex-claude-proxy";

/// Reads the request body into a buffer of `pool`, refusing more than `cap` bytes without
/// buffering them.
pub fn read_body<'p>(
    request: &mut Request,
    cap: usize,
    pool: &'p Buffers,
) -> Result<Buffer<'p>, Error> {
    if request.body_length().is_some_and(|n| n > cap) {
        return Err(Error::TooLarge(cap));
    }
    let mut body = pool.take(request.body_length().unwrap_or(0).min(cap));
    request
        .as_reader()
        .take(cap as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => Error::ClientTimeout(
                "the request body stopped arriving before its end (see --client-timeout)".into(),
            ),
            _ => Error::BadRequest(format!("could not read the request body: {e}")),
        })?;
    if body.len() > cap {
        return Err(Error::TooLarge(cap));
    }
    Ok(body)
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Sends a complete JSON answer.
pub fn respond_json(request: Request, status: u16, body: Vec<u8>) {
    let mut resp = Response::from_data(body).with_status_code(status);
    let request_id = new_id("req_");
    for h in [
        header("Content-Type", "application/json"),
        header("request-id", &request_id),
    ]
    .into_iter()
    .flatten()
    {
        resp.add_header(h);
    }
    let _ = request.respond(resp);
}

/// Sends an error as an Anthropic error body with its status, `x-should-retry` and (when known)
/// `retry-after`.
pub fn respond_error(request: Request, err: &Error) {
    let _ = request.respond(error_response(err, err.status()));
}

/// `err` as an Anthropic error body with `status`, `request-id`, `x-should-retry` and (when
/// known) `retry-after`.
pub(crate) fn error_response(err: &Error, status: u16) -> Response<io::Cursor<Vec<u8>>> {
    let mut resp = Response::from_data(err.to_json()).with_status_code(status);
    let request_id = new_id("req_");
    for h in [
        header("Content-Type", "application/json"),
        // The SDKs expose it as `_request_id` / `requestID`.
        header("request-id", &request_id),
        err.retry_after()
            .and_then(|s| header("retry-after", &s.to_string())),
        // Claude Code and the SDKs obey it: no minutes of retries for what a retry cannot fix.
        header(
            "x-should-retry",
            if err.should_retry() { "true" } else { "false" },
        ),
    ]
    .into_iter()
    .flatten()
    {
        resp.add_header(h);
    }
    resp
}

/// A streaming HTTP/1.1 answer written by hand: tiny_http buffers a `Response` of unknown
/// length until 8 KiB or the end, so what the handler delivers is sent as one chunk and flushed.
pub struct ChunkedWriter {
    out: Box<dyn Write + Send>,
    /// What the next write sends: the status line and headers until the first chunk, then the
    /// chunk being framed. Reused: one `write` per chunk keeps it in as few TCP segments as its
    /// size allows (tiny_http's 1 KiB buffer would split a larger one into pieces).
    frame: Vec<u8>,
}

impl ChunkedWriter {
    /// A 200 `text/event-stream` answer. Its status line and headers leave with the first chunk,
    /// in the same write (the caller starts it when it has a chunk to send).
    pub fn start(request: Request, request_id: &str) -> ChunkedWriter {
        let mut frame = Vec::with_capacity(4096);
        let _ = write!(
            frame,
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n\
             Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\nrequest-id: {request_id}\r\n\r\n"
        );
        ChunkedWriter {
            out: request.into_writer(),
            frame,
        }
    }

    /// Sends `bytes` as one chunk and flushes it to the socket.
    pub fn chunk(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(()); // an empty chunk would end the body
        }
        self.frame_chunk(bytes);
        self.send()
    }

    /// Sends `bytes` as the last chunk and ends the body, in one write.
    pub fn finish(mut self, bytes: &[u8]) -> io::Result<()> {
        if !bytes.is_empty() {
            self.frame_chunk(bytes);
        }
        self.frame.extend_from_slice(b"0\r\n\r\n");
        self.send()
    }

    fn frame_chunk(&mut self, bytes: &[u8]) {
        let _ = write!(self.frame, "{:x}\r\n", bytes.len());
        self.frame.extend_from_slice(bytes);
        self.frame.extend_from_slice(b"\r\n");
    }

    fn send(&mut self) -> io::Result<()> {
        let sent = self
            .out
            .write_all(&self.frame)
            .and_then(|()| self.out.flush());
        self.frame.clear();
        sent
    }
}

/// `prefix` + 24 hex digits, unique within the process and unlikely to repeat across runs.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = clock::unix_now_precise().as_nanos();
    let a = ids::fnv64(format!("{nanos}:{n}:{}", std::process::id()).as_bytes());
    let b = ids::fnv64(&a.to_le_bytes());
    format!("{prefix}{a:016x}{:08x}", b as u32)
}
