//! The state a running proxy shares among its request threads: settings, the backend, the
//! request count, shutdown flags, the token-estimate memo and the kept body buffers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::Config;
use crate::upstream::Upstream;

/// Shared state of a running proxy.
pub struct App {
    pub cfg: Config,
    pub upstream: Upstream,
    /// Which `Host`s and `Origin`s are answered ([`crate::guard`]).
    pub(crate) allow: crate::guard::Allow,
    pub(crate) active: AtomicUsize,
    pub(crate) stopping: AtomicBool,
    /// Set when a shutdown's drain time is up: streams still open end with an error event.
    pub(crate) cut: AtomicBool,
    /// Token estimates of long texts, kept across requests.
    pub tokens: crate::translate::tokens::Memo,
    /// Large request and upstream bodies' buffers, kept for the next long turn.
    pub buffers: crate::buffers::Buffers,
}

impl App {
    /// Whether requests in flight must end now (the shutdown's drain time is up).
    pub fn cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}
