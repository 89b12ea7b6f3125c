//! The ChatGPT Codex backend: one shared `ureq` agent (connection reuse, timeouts, status codes
//! as values), the request headers the Codex CLI sends (including the announced client version
//! and the Responses Lite marker), bounded retries before anything reached the client, the
//! 401 → refresh → retry dance, and the cached model catalogue (read when first needed, again
//! when the backend announces a new `x-models-etag`, when a request names a model it lacks, and
//! hourly; the built-in table stands in while it cannot be read).

use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

use crate::auth::{Auth, Credentials};
use crate::catalogue::{self, Catalogue, Lane, ModelInfo, ModelSettings, Source, Version};
use crate::config::Config;
use crate::error::Error;

/// Largest upstream error body we read, and the longest we spend reading it.
const MAX_ERROR_BODY: u64 = 64 * 1024;
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);
/// Retries after a connect error or 502/503/504, before anything was sent to the client.
const RETRIES: u32 = 2;
/// How long a model list is trusted when no etag change says otherwise.
const MODELS_TTL: Duration = Duration::from_secs(3600);
/// After a failed read of the model list, the next try waits this long.
const MODELS_RETRY: Duration = Duration::from_secs(60);
/// Bound on one read of the model list (it can sit on a request's path).
const MODELS_TIMEOUT: Duration = Duration::from_secs(15);
/// Re-reads of the list for model names it lacks: at most this many per window, once per name.
const UNKNOWN_REFETCHES: usize = 4;
const UNKNOWN_WINDOW: Duration = Duration::from_secs(600);
/// The header that marks a request as Responses Lite (upstream.md §9).
pub const LITE_HEADER: &str = "x-openai-internal-codex-responses-lite";

/// The upstream and everything needed to call it.
pub struct Upstream {
    agent: ureq::Agent,
    url: String,
    models_url: String,
    client_version: Version,
    settings: ModelSettings,
    pub auth: Auth,
    models: Mutex<Models>,
    /// Held while the model list is read, so concurrent requests share one read.
    reading: Mutex<()>,
    /// Usage limits from the latest reply's `x-codex-*` headers.
    pub usage: crate::usage::Tracker,
}

/// The cached catalogue and when to read it again.
struct Models {
    current: Arc<Catalogue>,
    /// Last successful read, last attempt.
    read_at: Option<Instant>,
    tried_at: Option<Instant>,
    /// The list's etag, and one the backend announced since (then the list is stale).
    etag: Option<String>,
    announced: Option<String>,
    /// Names that made the proxy read the list again, recently.
    unknown: Vec<(String, Instant)>,
    fallback_logged: bool,
}

impl Models {
    /// Whether the list should be read before it is used.
    fn due(&self) -> bool {
        let older = |t: Option<Instant>, d: Duration| t.is_none_or(|t| t.elapsed() >= d);
        match self.tried_at {
            None => true,
            // The last attempt failed: not before the retry interval, whatever else says so.
            Some(_) if self.read_at != self.tried_at => older(self.tried_at, MODELS_RETRY),
            Some(_) => self.announced.is_some() || older(self.read_at, MODELS_TTL),
        }
    }

    /// Whether a request naming `slug`, which the list lacks, may trigger a read.
    fn may_read_for(&mut self, slug: &str) -> bool {
        self.unknown.retain(|(_, at)| at.elapsed() < UNKNOWN_WINDOW);
        if self.unknown.len() >= UNKNOWN_REFETCHES || self.unknown.iter().any(|(s, _)| s == slug) {
            return false;
        }
        self.unknown
            .push((slug.chars().take(100).collect(), Instant::now()));
        true
    }
}

/// A 200 answer whose body is the event stream.
pub type Stream = ureq::Body;

/// Builds the shared agent. `per_read` bounds each read of the stream: the proxy wakes up that
/// often to send pings and notice a silent upstream; it never caps the stream's total length.
pub fn agent(cfg: &Config) -> ureq::Agent {
    agent_with(cfg, DefaultResolver::default())
}

/// [`agent`] with another name resolver (tests inject failing lookups through it).
pub fn agent_with(cfg: &Config, resolver: impl Resolver) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(cfg.connect_timeout))
        .timeout_recv_response(Some(cfg.first_byte_timeout))
        .timeout_per_read(Some(cfg.ping_interval))
        .user_agent(user_agent(&cfg.client_version))
        .max_idle_connections(64)
        .max_idle_connections_per_host(64)
        .max_idle_age(Duration::from_secs(90))
        // 128 KiB each by default, per connection; SSE lines stream through a smaller buffer
        // just as well, and 200 open streams should not cost 50 MB of buffers.
        .input_buffer_size(32 * 1024)
        .output_buffer_size(32 * 1024)
        .build();
    let connector = DefaultConnector::new().chain(PatientHeaders);
    ureq::Agent::with_parts(config, connector, Lookup(resolver))
}

/// Makes a failed name lookup recognisable: std reports it as a plain I/O error ("failed to
/// lookup address information: …") that looks like any other, and ureq passes it on as such.
/// Every I/O error from the resolver is a lookup failure, so this layer names it
/// `HostNotFound`, which [`transport_error`] retries like a refused connection.
#[derive(Debug)]
struct Lookup<R>(R);

impl<R: Resolver> Resolver for Lookup<R> {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match self.0.resolve(uri, config, timeout) {
            Err(ureq::Error::Io(e)) => {
                log::debug!("name lookup for {uri} failed: {e}");
                Err(ureq::Error::HostNotFound)
            }
            other => other,
        }
    }
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

/// Looks like the Codex CLI of the announced version (the backend routes and gates models on it)
/// and names this proxy.
fn user_agent(version: &Version) -> String {
    format!(
        "codex_cli_rs/{version} ({}; {}) codex-claude-proxy/{}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
}

impl Upstream {
    pub fn new(cfg: &Config, agent: ureq::Agent) -> Upstream {
        let settings = cfg.model_settings();
        let current = Catalogue::built_in(settings.clone(), cfg.client_version.clone());
        Upstream {
            auth: Auth::new(cfg, agent.clone()),
            agent,
            url: cfg.upstream_url.clone(),
            models_url: cfg.models_url(),
            client_version: cfg.client_version.clone(),
            settings,
            models: Mutex::new(Models {
                current: Arc::new(current),
                read_at: None,
                tried_at: None,
                etag: None,
                announced: None,
                unknown: Vec::new(),
                fallback_logged: false,
            }),
            reading: Mutex::new(()),
            usage: crate::usage::Tracker::default(),
        }
    }

    /// The announced Codex client version.
    pub fn client_version(&self) -> &Version {
        &self.client_version
    }

    /// Sends a translated request on its lane; returns the event stream of a 200, or the mapped
    /// error. `session` becomes the `session_id` header (the same value as `prompt_cache_key`).
    pub fn send(&self, body: &[u8], session: &str, lane: Lane) -> Result<Stream, Error> {
        let mut creds = self.auth.credentials()?;
        let mut refreshed = false;
        let mut attempt = 0;
        let version = self.client_version.to_string();
        loop {
            let mut req = authorized(self.agent.post(&self.url), &creds)
                .header("OpenAI-Beta", "responses=experimental")
                .header("version", &version)
                .header("session_id", session)
                .header("Accept", "text/event-stream")
                .header("Content-Type", "application/json");
            if lane == Lane::Lite {
                req = req.header(LITE_HEADER, "true");
            }
            let result = req.send(body);
            // Errors carry the limits too (a 429 says which window ran out).
            if let Ok(resp) = &result {
                self.usage.observe(resp.headers());
                self.saw_models_etag(resp.headers());
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

    /// The catalogue requests are translated against, read first if it is due.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        if self.state().due() {
            let _ = self.read_models_if(Models::due);
        }
        self.cached_catalogue()
    }

    /// The catalogue for a request naming `requested`: when the list lacks the model it maps
    /// to, the list is read again first (once per name, a few times per ten minutes).
    pub fn catalogue_for(&self, requested: &str) -> Arc<Catalogue> {
        let cat = self.catalogue();
        let slug = cat.map.resolve(requested);
        if cat.source != Source::Live || cat.lists(&slug) || !self.state().may_read_for(&slug) {
            return cat;
        }
        log::info!("{slug} is not in the backend's model list; reading the list again");
        let _ = self.read_models_if(|_| true);
        self.cached_catalogue()
    }

    /// The cached catalogue, without reading anything.
    pub fn cached_catalogue(&self) -> Arc<Catalogue> {
        Arc::clone(&self.state().current)
    }

    /// Reads the model list now (and caches it); `status` wants the error itself.
    pub fn fetch_models(&self) -> Result<Vec<ModelInfo>, Error> {
        self.read_models_if(|_| true)
    }

    fn state(&self) -> MutexGuard<'_, Models> {
        self.models.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the list unless `still` says another thread just did; updates the cache and logs
    /// what changed. The first failure while no list was ever read is logged with its reason.
    fn read_models_if(&self, still: impl Fn(&Models) -> bool) -> Result<Vec<ModelInfo>, Error> {
        let _one_at_a_time = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        if !still(&self.state()) {
            return Ok(self.cached_catalogue().models.clone());
        }
        let result = self.read_models();
        let mut st = self.state();
        st.tried_at = Some(Instant::now());
        match &result {
            Ok((list, etag)) => {
                let cat = Catalogue::new(
                    list.clone(),
                    Source::Live,
                    self.settings.clone(),
                    self.client_version.clone(),
                );
                if st.read_at.is_some() && cat.map != st.current.map {
                    log::info!(
                        "the backend's model list changed; models now: {}",
                        cat.describe()
                    );
                }
                st.etag = etag.clone().or_else(|| st.announced.take());
                st.announced = None;
                st.read_at = st.tried_at;
                st.current = Arc::new(cat);
            }
            Err(e) if st.read_at.is_none() && !st.fallback_logged => {
                st.fallback_logged = true;
                log::warn!(
                    "could not read the backend's model list ({e}); using the built-in table of \
                     Codex {} models until it can be read: {}",
                    catalogue::DEFAULT_CLIENT_VERSION,
                    st.current.describe()
                );
            }
            Err(e) => log::debug!("could not read the backend's model list ({e})"),
        }
        result.map(|(list, _)| list)
    }

    /// One GET of the model list: the entries and the list's etag.
    fn read_models(&self) -> Result<(Vec<ModelInfo>, Option<String>), Error> {
        let creds: Credentials = self.auth.credentials()?;
        let resp = authorized(self.agent.get(&self.models_url), &creds)
            .config()
            .timeout_global(Some(MODELS_TIMEOUT))
            // With a global bound, ureq reports the header wait as `Global`, so `PatientHeaders`
            // would keep the agent's per-read bound (the ping interval) and cut a slow answer.
            .timeout_per_read(None)
            .build()
            .header("Accept", "application/json")
            .call()
            .map_err(transport_error)?;
        self.usage.observe(resp.headers());
        if resp.status().as_u16() != 200 {
            return Err(error_from_response(resp));
        }
        let etag = ["etag", "x-models-etag"]
            .iter()
            .find_map(|h| resp.headers().get(*h)?.to_str().ok())
            .map(normalize_etag);
        let text = resp
            .into_body()
            .into_with_config()
            .limit(8 << 20)
            .read_to_string()
            .map_err(transport_error)?;
        let list = catalogue::parse_list(&text).map_err(|e| Error::Upstream {
            status: 502,
            message: format!("unreadable model list: {e}"),
        })?;
        Ok((list, etag))
    }

    /// A `/responses` reply names the current etag of the model list; another one than ours
    /// means the list changed, and it is read again before the next request.
    fn saw_models_etag(&self, headers: &ureq::http::HeaderMap) {
        let Some(tag) = headers
            .get("x-models-etag")
            .and_then(|v| v.to_str().ok())
            .map(normalize_etag)
            .filter(|t| !t.is_empty())
        else {
            return;
        };
        let mut st = self.state();
        match &st.etag {
            Some(known) if *known == tag => {}
            Some(_) => {
                if st.announced.as_deref() != Some(tag.as_str()) {
                    log::info!("the backend's model list changed (etag {tag}); reading it again");
                }
                st.announced = Some(tag);
            }
            // A list read without an etag: take this one as its etag.
            None if st.read_at.is_some() => st.etag = Some(tag),
            None => {}
        }
    }
}

/// `W/"abc"` and `"abc"` name the same list as `abc`.
fn normalize_etag(tag: &str) -> String {
    let t = tag.trim();
    t.strip_prefix("W/")
        .unwrap_or(t)
        .trim_matches('"')
        .to_owned()
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

/// Reads (at most [`MAX_ERROR_BODY`] of) an error answer's body, for at most
/// [`ERROR_BODY_WAIT`] however slowly it arrives, and classifies it.
fn error_from_response(resp: ureq::http::Response<ureq::Body>) -> Error {
    let status = resp.status().as_u16();
    let deadline = Instant::now() + ERROR_BODY_WAIT;
    let mut reader = resp.into_body().into_reader().take(MAX_ERROR_BODY);
    let mut body = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let body = String::from_utf8_lossy(&body);
    Error::from_upstream(status, &body, crate::clock::unix_now())
}

/// Maps a transport failure; failing to connect (refused, unresolvable, no route, timed out)
/// is `Overloaded` (retried, then 529 to the client).
pub fn transport_error(e: ureq::Error) -> Error {
    use std::io::ErrorKind::*;
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            Error::Overloaded(format!("cannot reach the ChatGPT backend: {e}"))
        }
        ureq::Error::Timeout(t) => {
            Error::Timeout(format!("the ChatGPT backend did not answer in time ({t})"))
        }
        ureq::Error::HostNotFound => Error::Overloaded(
            "cannot reach the ChatGPT backend: its host name does not resolve (DNS or network down?)"
                .into(),
        ),
        ureq::Error::ConnectionFailed => {
            Error::Overloaded(format!("cannot reach the ChatGPT backend: {e}"))
        }
        ureq::Error::Io(ref io)
            if matches!(
                io.kind(),
                ConnectionRefused | HostUnreachable | NetworkUnreachable | NetworkDown
            ) =>
        {
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

    /// Fails every lookup the way std's resolver does (a plain I/O error), counting the calls.
    #[derive(Debug, Default)]
    struct NoDns(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Resolver for NoDns {
        fn resolve(
            &self,
            _: &ureq::http::Uri,
            _: &ureq::config::Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(ureq::Error::Io(std::io::Error::other(
                "failed to lookup address information: Name or service not known",
            )))
        }
    }

    #[test]
    fn failed_lookup_is_retried_then_overloaded() {
        let dir = std::env::temp_dir().join(format!("ccp-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = crate::oauth::unsigned_jwt(&serde_json::json!({"exp": 4_000_000_000u64}));
        let doc = serde_json::json!({"tokens": {"access_token": token, "refresh_token": "r"}});
        std::fs::write(dir.join("auth.json"), doc.to_string()).unwrap();
        let cfg = Config::for_test("https://backend.invalid/backend-api/codex/responses", dir);
        let lookups = NoDns::default();
        let calls = std::sync::Arc::clone(&lookups.0);
        let up = Upstream::new(&cfg, agent_with(&cfg, lookups));
        let err = up.send(b"{}", "s", Lane::Full).unwrap_err();
        assert_eq!(
            (err.status(), err.kind()),
            (529, "overloaded_error"),
            "{err}"
        );
        assert!(
            err.should_retry() && err.to_string().contains("does not resolve"),
            "{err}"
        );
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1 + RETRIES as usize
        );
        std::fs::remove_dir_all(&cfg.codex_home).unwrap();
    }

    #[test]
    fn user_agent_announces_the_client_version_and_names_the_proxy() {
        let ua = user_agent(&Version::parse("0.171.0").unwrap());
        assert!(ua.starts_with("codex_cli_rs/0.171.0 ("), "{ua}");
        assert!(ua.contains(concat!("codex-claude-proxy/", env!("CARGO_PKG_VERSION"))));
    }

    #[test]
    fn the_model_list_is_due_when_new_stale_or_old_but_not_right_after_a_failure() {
        let cat = Catalogue::built_in(ModelSettings::default(), Version::DEFAULT);
        let mut m = Models {
            current: Arc::new(cat),
            read_at: None,
            tried_at: None,
            etag: None,
            announced: None,
            unknown: Vec::new(),
            fallback_logged: false,
        };
        assert!(m.due(), "never read");
        let now = Instant::now();
        (m.read_at, m.tried_at) = (Some(now), Some(now));
        assert!(!m.due(), "fresh");
        m.announced = Some("v2".into());
        assert!(m.due(), "the backend announced another etag");
        m.tried_at = Some(Instant::now());
        assert!(!m.due(), "the read for it failed a moment ago: wait");
        m.announced = None;
        if let Some(long_ago) = now.checked_sub(MODELS_TTL) {
            (m.read_at, m.tried_at) = (Some(long_ago), Some(long_ago));
            assert!(m.due(), "an hour old");
        }
        assert!(
            m.may_read_for("gpt-x") && !m.may_read_for("gpt-x"),
            "once per name"
        );
        for name in ["a", "b", "c"] {
            m.may_read_for(name);
        }
        assert!(!m.may_read_for("d"), "a few per window");
    }

    #[test]
    fn etags_compare_without_quotes_or_weakness() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag(" \"abc\" "), "abc");
        assert_eq!(normalize_etag("abc"), "abc");
    }
}
