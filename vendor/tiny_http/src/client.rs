use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::{BufReader, BufWriter, ErrorKind, Read};

use std::net::{Shutdown, SocketAddr};
use std::str::FromStr;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{HTTPVersion, Method};
use crate::connection::Connection;
use crate::util::read_timer::{ReadTimer, Wait};
use crate::util::{BodyEnd, RefinedTcpStream};
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::{Header, Limits, Request, Response, StatusCode};

/// How long, and how much, a connection that is being closed keeps reading and discarding of
/// what the client still sends, so that the client reads the answer before the close (patched,
/// see PATCHES.md).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 << 20;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
///
/// Patched (see PATCHES.md): one request at a time (the next head is read once the previous
/// answer is complete and its body settled), bounded heads, timeouts, and the server's own
/// refusals answered then followed by a close.
pub struct ClientConnection {
    // address of the client
    remote_addr: Option<SocketAddr>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    /// The socket both halves use.
    stream: Arc<Connection>,
    /// What reads may wait for.
    timer: Arc<ReadTimer>,
    limits: Limits,
    /// Tells how the previous request's body ended.
    previous_body: Option<Receiver<BodyEnd>>,
    /// Bytes the current head may still take.
    head_left: usize,
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    ReadIoError(IoError),
    /// The connection ended or stayed idle before a new request began: nothing to answer.
    Closed,
    /// A request head begun but not finished in time.
    HeadTimeout,
    /// A short body (read with the head) not finished in time.
    BodyTimeout,
    /// A version other than HTTP/1.0 and HTTP/1.1.
    UnsupportedVersion,
    HeadTooLarge { in_request_line: bool },
    TooManyHeaders(HTTPVersion),
    BadFraming(HTTPVersion, &'static str),
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the connection.
    pub fn new(stream: Connection, limits: &Limits) -> ClientConnection {
        // Patched: upstream unwrapped this later and panicked when the client had already gone.
        let remote_addr = stream.peer_addr().ok().flatten();
        let stream = Arc::new(stream);
        let timer = Arc::new(ReadTimer::new(limits));
        let (read_socket, write_socket) =
            RefinedTcpStream::new(Arc::clone(&stream), Arc::clone(&timer));

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            stream,
            timer,
            limits: limits.clone(),
            previous_body: None,
            head_left: 0,
        }
    }

    /// Reads one line of a request head (without its CRLF), within what the head may still take.
    /// The first byte of a request line starts the head's clock.
    fn read_next_line(&mut self, request_line: bool) -> Result<Vec<u8>, ReadError> {
        let mut buf = Vec::new();
        let mut prev_byte_was_cr = false;

        loop {
            let mut byte = [0u8];
            match self.next_header_source.read(&mut byte) {
                Ok(0) if matches!(self.timer.get(), Wait::Idle) => return Err(ReadError::Closed),
                Ok(0) => {
                    let err = IoError::new(ErrorKind::ConnectionAborted, "Unexpected EOF");
                    return Err(ReadError::ReadIoError(err));
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) if matches!(self.timer.get(), Wait::Idle) => return Err(ReadError::Closed),
                Err(e) if e.kind() == ErrorKind::TimedOut => return Err(ReadError::HeadTimeout),
                Err(e) => return Err(ReadError::ReadIoError(e)),
            }
            if matches!(self.timer.get(), Wait::Idle) {
                self.timer.set(Wait::Head(Instant::now()));
            }
            if self.head_left == 0 {
                return Err(ReadError::HeadTooLarge {
                    in_request_line: request_line,
                });
            }
            self.head_left -= 1;
            let byte = byte[0];

            if byte == b'\n' && prev_byte_was_cr {
                buf.pop(); // removing the '\r'
                return Ok(buf);
            }

            prev_byte_was_cr = byte == b'\r';

            buf.push(byte);
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        self.timer.set(Wait::Idle);
        self.head_left = self.limits.max_head_bytes;

        let line = self.read_next_line(true)?;
        let line = AsciiString::from_ascii(line).map_err(|_| ReadError::WrongRequestLine)?;
        let (method, path, version) = parse_request_line(line.as_str().trim())?;
        if version != HTTPVersion(1, 0) && version != HTTPVersion(1, 1) {
            return Err(ReadError::UnsupportedVersion);
        }

        let mut headers = Vec::new();
        loop {
            let line = self.read_next_line(false)?;
            if line.is_empty() {
                break;
            }
            if headers.len() == self.limits.max_headers {
                return Err(ReadError::TooManyHeaders(version));
            }
            let header = AsciiString::from_ascii(line)
                .ok()
                .and_then(|line| Header::from_str(line.as_str().trim()).ok());
            match header {
                Some(h) => headers.push(h),
                None => return Err(ReadError::WrongHeader(version)),
            }
        }

        self.timer.set(Wait::Body {
            since: Instant::now(),
            got: 0,
        });

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        let (report, body_end) = channel();
        self.previous_body = Some(body_end);

        // building the next reader
        crate::request::new_request(
            false,
            method,
            path,
            version.clone(),
            headers,
            self.remote_addr,
            data_source,
            writer,
            Some(report),
        )
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e)
                    if e.kind() == ErrorKind::TimedOut =>
                {
                    ReadError::BodyTimeout
                }
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version.clone())
                }
                request::RequestCreationError::BadFraming(why) => {
                    ReadError::BadFraming(version.clone(), why)
                }
            }
        })
    }

    /// Waits until the answer to the previous request is complete, then reads and discards what
    /// that request left of its body if it is small enough. `false`: the connection was closed.
    fn settle_previous(&mut self) -> bool {
        self.sink.wait_previous();
        let end = match self.previous_body.take() {
            // A body that needed no reader (empty, or read whole with the head) sends nothing.
            Some(end) => end.recv().unwrap_or(BodyEnd::Complete),
            None => BodyEnd::Complete,
        };
        let rest = match end {
            BodyEnd::Complete => return true,
            BodyEnd::Unread(n) if n <= self.limits.max_drain => n,
            BodyEnd::Unread(_) | BodyEnd::Broken => {
                self.close();
                return false;
            }
        };
        let mut buf = [0u8; 8192];
        let mut left = rest;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            match self.next_header_source.read(&mut buf[..want]) {
                Ok(0) | Err(_) => {
                    self.no_more_requests = true;
                    return false;
                }
                Ok(n) => left -= n as u64,
            }
        }
        true
    }

    /// Answers a request the application never sees, then closes the connection.
    fn refuse(&mut self, status: u16, version: HTTPVersion, why: &str) {
        log::debug!("refusing a request with {}: {}", status, why);
        let response = match self.limits.error_page {
            Some(page) => page(StatusCode(status), why),
            None => Response::from_string(why).with_status_code(status),
        };
        let writer = self.sink.next().unwrap();
        response
            .with_connection_close()
            .raw_print(writer, version, &[], false, None)
            .ok();
        self.close();
    }

    /// Ends the connection after the answer written so far: sends it and a FIN, then reads and
    /// discards what the client still sends, up to [`LINGER`] and [`LINGER_BYTES`]: closing a
    /// socket with unread input sends a reset, which can destroy the answer before the client
    /// reads it.
    fn close(&mut self) {
        self.no_more_requests = true;
        self.sink.wait_previous();
        self.stream.shutdown(Shutdown::Write).ok();
        self.timer.set(Wait::Linger(Instant::now() + LINGER));
        let mut buf = [0u8; 8192];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match self.next_header_source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    }

    fn answer_error(&mut self, err: ReadError) {
        let head = self.limits.max_head_bytes;
        let v11 = HTTPVersion(1, 1);
        match err {
            ReadError::WrongRequestLine => self.refuse(400, v11, "malformed request line"),
            ReadError::WrongHeader(ver) => self.refuse(400, ver, "malformed header line"),
            ReadError::ExpectationFailed(ver) => {
                self.refuse(417, ver, "the Expect header can only be 100-continue")
            }
            ReadError::UnsupportedVersion => self.refuse(
                505,
                v11,
                "This server only supports HTTP versions 1.0 and 1.1",
            ),
            ReadError::HeadTooLarge {
                in_request_line: true,
            } => {
                let why = format!("request line longer than {} bytes", head);
                self.refuse(414, v11, &why)
            }
            ReadError::HeadTooLarge { .. } => {
                let why = format!("request head larger than {} bytes", head);
                self.refuse(431, v11, &why)
            }
            ReadError::TooManyHeaders(ver) => {
                let why = format!("more than {} header lines", self.limits.max_headers);
                self.refuse(431, ver, &why)
            }
            ReadError::BadFraming(ver, why) => {
                let why = format!("ambiguous request framing: {}", why);
                self.refuse(400, ver, &why)
            }
            ReadError::HeadTimeout => {
                self.refuse(408, v11, "the request head did not arrive in time")
            }
            ReadError::BodyTimeout => {
                self.refuse(408, v11, "the request body did not arrive in time")
            }
            ReadError::ReadIoError(e) => log::debug!("connection ended: {}", e),
            ReadError::Closed => {}
        }
    }
}

impl Iterator for ClientConnection {
    type Item = Request;
    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        // Patched: the previous request is settled first, also when it was the last one (the
        // connection then closes without unread input, which would reset it).
        if !self.settle_previous() {
            return None;
        }

        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        let rq = match self.read() {
            Ok(rq) => rq,
            Err(err) => {
                self.answer_error(err);
                return None;
            }
        };

        // updating the status of the connection
        let connection_header = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Connection"))
            .map(|h| h.value.as_str());

        let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

        match lowercase {
            Some(ref val) if val.contains("close") => self.no_more_requests = true,
            Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
            Some(ref val)
                if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
            {
                self.no_more_requests = true
            }
            None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
            _ => (),
        };

        // returning the request
        Some(rq)
    }
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');

    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(ToOwned::to_owned);
    let version = parts.next().and_then(|w| parse_http_version(w).ok());

    method
        .and_then(|method| Some((method, path?, version?)))
        .ok_or(ReadError::WrongRequestLine)
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
