//! Bounds on what one client connection may cost (added by the patched copy, see PATCHES.md).

use std::io::Cursor;
use std::time::Duration;

use crate::{Response, StatusCode};

/// Builds the answer the server sends on its own when it refuses a request before the
/// application sees it (400, 408, 414, 431, 505): the status and a one-line reason.
pub type ErrorPage = fn(StatusCode, &str) -> Response<Cursor<Vec<u8>>>;

/// Limits and timeouts for client connections, given to [`crate::Server::from_listener_with_limits`].
///
/// Timeouts are `None` (wait forever) by default, as in upstream tiny_http; the size bounds are
/// always on.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request head (request line and headers, with their line ends); beyond it the
    /// request is refused with 431 (414 while still in the request line) and the connection closed.
    pub max_head_bytes: usize,
    /// Most header lines in one request; more get 431.
    pub max_headers: usize,
    /// Largest unread rest of a request body that is read and discarded so the connection can
    /// serve its next request; a bigger rest (or an unfinished chunked body) closes the connection.
    pub max_drain: u64,
    /// How long a kept-alive connection may wait for the first byte of its next request.
    pub idle_timeout: Option<Duration>,
    /// How long a request head may take to arrive, from its first byte (then 408).
    pub head_timeout: Option<Duration>,
    /// How long a request body may stall; the whole body must also arrive within this time plus
    /// one second for every `body_min_rate` bytes received.
    pub body_timeout: Option<Duration>,
    /// See `body_timeout`; 0 makes `body_timeout` a limit on the whole body.
    pub body_min_rate: u64,
    /// How long one write to the client may block (the client stopped reading).
    pub write_timeout: Option<Duration>,
    /// Sets `TCP_NODELAY` on every accepted TCP connection, so a small write (one streamed
    /// event) leaves at once instead of waiting for the ACK of the previous one (Nagle).
    pub no_delay: bool,
    /// Renders the server's own refusals; `None` sends the reason as `text/plain`.
    pub error_page: Option<ErrorPage>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            max_drain: 1024 * 1024,
            idle_timeout: None,
            head_timeout: None,
            body_timeout: None,
            body_min_rate: 0,
            write_timeout: None,
            no_delay: false,
            error_page: None,
        }
    }
}
