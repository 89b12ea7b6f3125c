//! The ChatGPT Codex backend: one shared `ureq` agent (connection reuse, timeouts, status codes
//! as values), the request headers the Codex CLI sends, bounded retries before anything reached
//! the client, the 401 → refresh → retry dance, and the cached model list.

use std::io::Read;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::Deserialize;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

use crate::auth::{Auth, Credentials};
use crate::config::Config;
use crate::error::Error;
use crate::translate::models::ModelInfo;

/// Codex CLI version we present; new models require a recent client (`minimal_client_version`).
pub const CLIENT_VERSION: &str = "0.144.1";
/// Largest upstream error body we read.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// Retries after a connect error or 502/503/504, before anything was sent to the client.
const RETRIES: u32 = 2;
/// How long the model list is trusted.
const MODELS_TTL: Duration = Duration::from_secs(3600);

/// The upstream and everything needed to call it.
pub struct Upstream {
    agent: ureq::Agent,
    url: String,
    models_url: String,
    pub auth: Auth,
    models: RwLock<Option<(Instant, Vec<ModelInfo>)>>,
    /// Usage limits from the latest reply's `x-codex-*` headers.
    pub usage: crate::usage::Tracker,
}

/// A 200 answer whose body is the event stream.
pub type Stream = ureq::Body;

/// Builds the shared agent. `per_read` bounds each read of the stream: the proxy wakes up that
/// often to send pings and notice a silent upstream; it never caps the stream's total length.
pub fn agent(cfg: &Config) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(cfg.connect_timeout))
        .timeout_recv_response(Some(cfg.first_byte_timeout))
        .timeout_per_read(Some(cfg.ping_interval))
        .user_agent(user_agent())
        .max_idle_connections(64)
        .max_idle_connections_per_host(64)
        .max_idle_age(Duration::from_secs(90))
        // 128 KiB each by default, per connection; SSE lines stream through a smaller buffer
        // just as well, and 200 open streams should not cost 50 MB of buffers.
        .input_buffer_size(32 * 1024)
        .output_buffer_size(32 * 1024)
        .build();
    let connector = DefaultConnector::new().chain(PatientHeaders);
    ureq::Agent::with_parts(config, connector, DefaultResolver::default())
}

/// ureq applies `timeout_per_read` to every read, including the wait for response headers, so a
/// backend that takes longer than one ping interval to answer would fail. This outermost
/// transport layer lifts the per-read cap while headers are awaited (`first_byte_timeout` bounds
/// that wait) and keeps it for the body. It uses ureq's `unversioned` transport API; Cargo.lock
/// pins the ureq version it was written against.
#[derive(Debug)]
struct PatientHeaders;

impl Connector<Box<dyn Transport>> for PatientHeaders {
    type Out = Patient;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Patient>, ureq::Error> {
        Ok(chained.map(Patient))
    }
}

#[derive(Debug)]
struct Patient(Box<dyn Transport>);

impl Transport for Patient {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, mut timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if timeout.reason == ureq::Timeout::RecvResponse {
            timeout.per_read = None;
        }
        self.0.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

/// Looks like the Codex CLI (the backend routes on it) and names this proxy.
fn user_agent() -> String {
    format!(
        "codex_cli_rs/{CLIENT_VERSION} ({}; {}) codex-claude-proxy/{}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
}

impl Upstream {
    pub fn new(cfg: &Config, agent: ureq::Agent) -> Upstream {
        Upstream {
            auth: Auth::new(&cfg.codex_home, cfg.refresh_url.clone(), agent.clone()),
            agent,
            url: cfg.upstream_url.clone(),
            models_url: cfg.models_url(),
            models: RwLock::new(None),
            usage: crate::usage::Tracker::default(),
        }
    }

    /// Sends a translated request; returns the event stream of a 200, or the mapped error.
    /// `session` becomes the `session_id` header (the same value as `prompt_cache_key`).
    pub fn send(&self, body: &[u8], session: &str) -> Result<Stream, Error> {
        let mut creds = self.auth.credentials()?;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let result = authorized(self.agent.post(&self.url), &creds)
                .header("OpenAI-Beta", "responses=experimental")
                .header("version", CLIENT_VERSION)
                .header("session_id", session)
                .header("Accept", "text/event-stream")
                .header("Content-Type", "application/json")
                .send(body);
            // Errors carry the limits too (a 429 says which window ran out).
            if let Ok(resp) = &result {
                self.usage.observe(resp.headers());
            }
            let retryable = match result {
                Ok(resp) if resp.status().as_u16() == 200 => return Ok(resp.into_body()),
                Ok(resp) if resp.status().as_u16() == 401 && !refreshed => {
                    refreshed = true;
                    log::info!("upstream answered 401; refreshing the token once");
                    creds = self.auth.after_unauthorized(&creds)?;
                    continue;
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let err = error_from_response(resp);
                    if !matches!(status, 502..=504) {
                        return Err(err);
                    }
                    err
                }
                Err(e) => {
                    let err = transport_error(e);
                    if !matches!(err, Error::Overloaded(_)) {
                        return Err(err);
                    }
                    err
                }
            };
            if attempt >= RETRIES {
                return Err(retryable);
            }
            attempt += 1;
            log::warn!("upstream attempt {attempt} failed ({retryable}); retrying");
            std::thread::sleep(backoff(attempt));
        }
    }

    /// The backend's model list, fetched at most once per hour; empty when it cannot be read.
    pub fn models(&self) -> Vec<ModelInfo> {
        if let Ok(guard) = self.models.read()
            && let Some((_, list)) = guard.as_ref().filter(|(at, _)| at.elapsed() < MODELS_TTL)
        {
            return list.clone();
        }
        match self.fetch_models() {
            Ok(list) => {
                if let Ok(mut guard) = self.models.write() {
                    *guard = Some((Instant::now(), list.clone()));
                }
                list
            }
            Err(e) => {
                log::debug!("model list unavailable: {e}");
                Vec::new()
            }
        }
    }

    /// The cached model list without fetching (empty if never fetched).
    pub fn cached_models(&self) -> Vec<ModelInfo> {
        self.models
            .read()
            .ok()
            .and_then(|g| g.as_ref().map(|(_, l)| l.clone()))
            .unwrap_or_default()
    }

    /// Fetches the model list now, bypassing the cache; `status` wants the error itself.
    pub fn fetch_models(&self) -> Result<Vec<ModelInfo>, Error> {
        #[derive(Deserialize)]
        struct List {
            models: Vec<ModelInfo>,
        }
        let creds: Credentials = self.auth.credentials()?;
        let resp = authorized(self.agent.get(&self.models_url), &creds)
            .header("Accept", "application/json")
            .call()
            .map_err(transport_error)?;
        self.usage.observe(resp.headers());
        if resp.status().as_u16() != 200 {
            return Err(error_from_response(resp));
        }
        let text = resp
            .into_body()
            .into_with_config()
            .limit(8 << 20)
            .read_to_string()
            .map_err(transport_error)?;
        let list: List = serde_json::from_str(&text).map_err(|e| Error::Upstream {
            status: 502,
            message: format!("unreadable model list: {e}"),
        })?;
        Ok(list.models)
    }
}

/// The headers every backend call carries: the token, the account it acts for, and the
/// first-party originator the backend routes on.
fn authorized<B>(req: ureq::RequestBuilder<B>, creds: &Credentials) -> ureq::RequestBuilder<B> {
    req.header(
        "Authorization",
        &format!("Bearer {}", creds.access_token.expose()),
    )
    .header(
        "chatgpt-account-id",
        creds.account_id.as_deref().unwrap_or(""),
    )
    .header("originator", "codex_cli_rs")
}

fn error_from_response(resp: ureq::http::Response<ureq::Body>) -> Error {
    let status = resp.status().as_u16();
    let mut body = String::new();
    let _ = resp
        .into_body()
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut body);
    Error::from_upstream(status, &body, crate::clock::unix_now())
}

/// Maps a transport failure; failing to connect (refused, unresolvable, timed out) is
/// `Overloaded` (retried, then 529 to the client).
pub fn transport_error(e: ureq::Error) -> Error {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            Error::Overloaded(format!("cannot reach the ChatGPT backend: {e}"))
        }
        ureq::Error::Timeout(t) => {
            Error::Timeout(format!("the ChatGPT backend did not answer in time ({t})"))
        }
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            Error::Overloaded(format!("cannot reach the ChatGPT backend: {e}"))
        }
        ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Error::Overloaded(format!("cannot reach the ChatGPT backend: {e}"))
        }
        other => Error::Upstream {
            status: 502,
            message: format!("upstream connection failed: {other}"),
        },
    }
}

/// Before retry `attempt` (1, 2, …): 200 ms, 400 ms, … with ±25 % jitter so parallel retries
/// spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64 << attempt.min(6);
    let nanos = crate::clock::unix_now_precise().subsec_nanos();
    let jitter = i64::from(nanos % 500) - 250; // per mille: ±25 %
    Duration::from_millis((base as i64 + base as i64 * jitter / 1000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter() {
        for (attempt, base) in [(1, 200), (2, 400), (3, 800)] {
            let b = backoff(attempt).as_millis() as u64;
            assert!(b >= base * 3 / 4 && b <= base * 5 / 4, "{attempt}: {b}");
        }
    }

    #[test]
    fn user_agent_names_the_proxy() {
        assert!(user_agent().starts_with("codex_cli_rs/"));
        assert!(user_agent().contains(concat!("codex-claude-proxy/", env!("CARGO_PKG_VERSION"))));
    }
}
