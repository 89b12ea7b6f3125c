//! The HTTP edge: binds the listener, accepts requests on tiny_http's threads (with the bounds
//! and client timeouts of the patched tiny_http in `vendor/`), gives each request its own
//! thread, routes it (to [`crate::handler`] and [`crate::info`]) after the [`crate::guard`]
//! checks, enforces the connection cap and the optional client API key, and shuts down
//! gracefully. Answers are written through [`crate::http`].

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tiny_http::{Method, Request, Response};

pub use crate::app::App;
use crate::config::Config;
use crate::error::Error;
use crate::http::{SERVICE, error_response, respond_error, respond_json};
use crate::upstream::{self, Upstream};
use crate::{handler, info};

/// glibc's malloc raises its mmap threshold each time a large block is freed, after which blocks
/// of a few MiB (a long history's request and upstream bodies) stay in the malloc arena of the
/// thread that used them, and request threads spread over up to 16 arenas: twenty 2 MiB requests
/// held 60 MiB. A fixed threshold maps large blocks and unmaps them when freed. (musl does so by
/// itself.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only sets a parameter of the C library's allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// A running proxy; dropping it does not stop it, call [`Running::stop`].
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    server: Arc<tiny_http::Server>,
    accept: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests and waits for the accept loop to end.
    pub fn stop(mut self) {
        self.app.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }

    /// Graceful shutdown: stops accepting, lets the requests in flight finish for up to `drain`
    /// (or until `quit_now` says so), then ends those still running: a stream gets an `error`
    /// event, a request still waiting for its answer an error answer. Handlers notice within a
    /// ping interval (each upstream read wakes up that often), which is waited for as well.
    pub fn shutdown(self, drain: Duration, quit_now: impl Fn() -> bool) {
        let app = Arc::clone(&self.app);
        self.stop();
        let in_flight = || app.active.load(Ordering::SeqCst);
        let wait = |until: Instant| {
            while in_flight() > 0 && Instant::now() < until && !quit_now() {
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        if in_flight() > 0 {
            log::info!(
                "shutting down: waiting up to {} s for {} request(s) in flight (signal again to quit now)",
                drain.as_secs(),
                in_flight()
            );
        }
        wait(Instant::now() + drain);
        if in_flight() > 0 && !quit_now() {
            log::warn!(
                "shutdown: ending {} request(s) still in flight with an error",
                in_flight()
            );
            app.cut.store(true, Ordering::SeqCst);
            wait(Instant::now() + app.cfg.ping_interval + Duration::from_secs(1));
        }
    }

    /// Blocks until the server stops.
    pub fn wait(mut self) {
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Binds `cfg.host:cfg.port` and starts serving on background threads. Raises the open-file
/// limit first, and lowers `cfg.max_connections` to what it allows.
pub fn start(mut cfg: Config) -> io::Result<Running> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tune_malloc();
    let nofile = crate::nofile::raise();
    let cap = crate::nofile::cap(cfg.max_connections, nofile);
    if cap < cfg.max_connections {
        log::warn!(
            "serving at most {cap} requests at once (not {}): the open-file limit is {} and each \
             request needs about {} descriptors; raise it with `ulimit -n` (LimitNOFILE= under systemd)",
            cfg.max_connections,
            nofile.unwrap_or_default(),
            crate::nofile::PER_REQUEST
        );
        cfg.max_connections = cap;
    }
    let listener = TcpListener::bind((cfg.host.as_str(), cfg.port))?;
    let addr = listener.local_addr()?;
    let server = Arc::new(
        tiny_http::Server::from_listener_with_limits(listener, client_limits(&cfg))
            .map_err(io::Error::other)?,
    );
    let agent = upstream::agent(&cfg);
    let app = Arc::new(App {
        upstream: Upstream::new(&cfg, agent),
        allow: crate::guard::Allow::new(&cfg.allow_hosts, &cfg.allow_origins, Some(addr.ip())),
        cfg,
        active: AtomicUsize::new(0),
        stopping: std::sync::atomic::AtomicBool::new(false),
        cut: std::sync::atomic::AtomicBool::new(false),
        tokens: Default::default(),
        buffers: Default::default(),
    });
    let accept = {
        let (server, app) = (Arc::clone(&server), Arc::clone(&app));
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept_loop(&server, &app))?
    };
    Ok(Running {
        addr,
        app,
        server,
        accept: Some(accept),
    })
}

/// Runs a started proxy in the foreground until SIGTERM or SIGINT: then it stops accepting, lets
/// the requests in flight finish (up to [`DRAIN`]; a second signal cuts that short) and exits 0.
pub fn serve(running: Running) -> Result<std::process::ExitCode, String> {
    crate::signals::catch_terminate();
    announce(&running);
    while crate::signals::terminate_requests() == 0 {
        if running.accept.as_ref().is_none_or(|h| h.is_finished()) {
            // Never live on without listening: exit so a supervisor restarts the proxy.
            running.shutdown(DRAIN, || crate::signals::terminate_requests() > 0);
            return Err("the listener failed (see the log above); exiting".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    running.shutdown(DRAIN, || crate::signals::terminate_requests() >= 2);
    log::info!("stopped");
    Ok(std::process::ExitCode::SUCCESS)
}

/// How long a stopping proxy waits for requests in flight.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(20);

/// Start-up report: where we listen, how to point Claude Code here, the models in use (once the
/// backend's list is read) and what looks wrong (no login, an exposed address without a key,
/// configured models that are legacy or not offered).
pub fn announce(running: &Running) {
    let app = &running.app;
    log::info!(
        "codex-claude-proxy {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        running.addr
    );
    log::info!(
        "use it with: {}",
        client_hint(running.addr, app.cfg.api_key.is_some())
    );
    if !running.addr.ip().is_loopback() && app.cfg.api_key.is_none() {
        log::warn!(
            "listening on {} WITHOUT an API key: anyone who can reach this port can use your ChatGPT account. \
             Set PROXY_API_KEY (or --api-key), or bind 127.0.0.1 and use an SSH tunnel",
            running.addr.ip()
        );
    }
    if let Err(e) = app.upstream.auth.credentials() {
        log::warn!("{e}");
        return;
    }
    let app = Arc::clone(app);
    // The model list needs a network round trip; don't hold up the listener for it. A failure
    // to read it is logged, with its reason, where it happens (upstream).
    let _ = std::thread::Builder::new()
        .name("models".into())
        .spawn(move || {
            let cat = app.upstream.catalogue();
            let source = match cat.source {
                crate::catalogue::Source::Live => "from the backend's model list",
                crate::catalogue::Source::BuiltIn => "from the built-in table",
            };
            log::info!(
                "models ({source}, client {}): {}",
                cat.client,
                cat.describe()
            );
            for w in cat.warnings() {
                log::warn!("{w}");
            }
        });
}

/// The command line that points Claude Code at this proxy. With an API key the token is the
/// key, named by its variable: the key itself is never printed.
fn client_hint(addr: SocketAddr, has_key: bool) -> String {
    // A wildcard bind is reachable on loopback; "http://0.0.0.0:…" is not an address to call.
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let url = SocketAddr::new(ip, addr.port());
    if has_key {
        format!(
            "ANTHROPIC_BASE_URL=http://{url} ANTHROPIC_AUTH_TOKEN=\"$PROXY_API_KEY\" claude \
             (with PROXY_API_KEY set to this proxy's key in that shell)"
        )
    } else {
        format!("ANTHROPIC_BASE_URL=http://{url} ANTHROPIC_AUTH_TOKEN=sk-proxy claude")
    }
}

/// Hands each request to a thread of its own. Nothing here writes to a client or reads from
/// one: a slow client (even one over the cap) holds up only its own thread.
fn accept_loop(server: &tiny_http::Server, app: &Arc<App>) {
    // Each request runs on a thread of its own; one whose request is done waits (beyond the 4
    // the pool keeps, for 5 s) for the next request instead of exiting.
    let threads = tiny_http::TaskPool::named("request");
    loop {
        let request = match server.recv() {
            Ok(rq) => rq,
            Err(e) => {
                if !app.stopping.load(Ordering::SeqCst) {
                    log::error!("the listener failed: {e}");
                }
                return;
            }
        };
        let (app, mut request) = (Arc::clone(app), Unserved(Some(request)));
        threads.spawn(Box::new(move || {
            if let Some(request) = request.0.take() {
                serve_one(request, &app);
            }
        }));
    }
}

/// A request handed to the thread pool. If no thread could be started for it (the pool logs
/// that), it is dropped unserved and answered with a 529 here.
struct Unserved(Option<Request>);

impl Drop for Unserved {
    fn drop(&mut self) {
        if let Some(request) = self.0.take() {
            let e = Error::Overloaded("the proxy cannot start a thread; retry shortly".into());
            respond_error(request, &e);
        }
    }
}

/// Serves one request within the cap on requests in flight; over it, a 529.
fn serve_one(request: Request, app: &App) {
    if app.active.fetch_add(1, Ordering::SeqCst) >= app.cfg.max_connections {
        app.active.fetch_sub(1, Ordering::SeqCst);
        let err = Error::Overloaded("the proxy is at its connection limit; retry shortly".into());
        log::warn!(
            "{} {} -> 529 (connection limit {})",
            request.method(),
            request.url(),
            app.cfg.max_connections
        );
        respond_error(request, &err);
        return;
    }
    let _guard = Active(&app.active);
    route(request, app);
}

/// Keeps a request's body flowing: below this rate a body gets no more time than
/// `client_timeout` (4 KiB/s: a 32 MiB body may take 2 hours; a modem is ten times faster).
const CLIENT_MIN_RATE: u64 = 4 << 10;

/// The bounds and timeouts tiny_http applies to client connections.
fn client_limits(cfg: &Config) -> tiny_http::Limits {
    tiny_http::Limits {
        idle_timeout: Some(cfg.keep_alive_timeout),
        head_timeout: Some(cfg.client_timeout),
        body_timeout: Some(cfg.client_timeout),
        body_min_rate: CLIENT_MIN_RATE,
        write_timeout: Some(cfg.client_timeout),
        // Each event is one small write; with Nagle on, the kernel holds it back while an
        // earlier packet awaits its (delayed) ACK: `make bench` measured 44 ms added to every
        // request's last chunk.
        no_delay: true,
        error_page: Some(error_page),
        // 64 KiB head, 100 headers, 1 MiB of an unread body drained before the next request.
        ..tiny_http::Limits::default()
    }
}

/// tiny_http's own refusals (a malformed, ambiguous or oversized request head, a head too slow
/// to arrive, HTTP/2), as Anthropic error bodies.
fn error_page(status: tiny_http::StatusCode, why: &str) -> Response<io::Cursor<Vec<u8>>> {
    let err = match status.0 {
        408 => Error::ClientTimeout(why.to_owned()),
        _ => Error::BadRequest(why.to_owned()),
    };
    error_response(&err, status.0)
}

/// Decrements the active-request count when a request thread ends, even by panic.
struct Active<'a>(&'a AtomicUsize);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn route(request: Request, app: &App) {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    let method = request.method().clone();
    if method == Method::Head {
        // Claude Code preconnects with HEAD on / or /api/hello.
        let _ = request.respond(Response::empty(200));
        return;
    }
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .map(|h| (h.field.as_str().as_str(), h.value.as_str()))
        .collect();
    if let Err(e) = crate::guard::check(method.as_str(), &headers, &app.allow) {
        log::warn!("{method} {path} -> {} {}: {e}", e.status(), e.kind());
        respond_error(request, &e);
        return;
    }
    // /usage reveals the account's usage, so it needs the key too; /health stays open for probes.
    let protected = path.starts_with("/v1/") || path == "/usage";
    if protected && let Err(e) = check_api_key(&request, app) {
        log::warn!("{method} {path} -> 401 (missing or wrong proxy API key)");
        respond_error(request, &e);
        return;
    }
    match (&method, path.as_str()) {
        (Method::Post, "/v1/messages") => handler::messages(request, app),
        (Method::Post, "/v1/messages/count_tokens") => handler::count_tokens(request, app),
        (Method::Get, "/v1/models") => info::models(request, app),
        (Method::Get, "/health") => info::health(request, app),
        (Method::Get, "/usage") => respond_json(
            request,
            200,
            app.upstream.usage.to_json().to_string().into_bytes(),
        ),
        (Method::Get, "/") => respond_json(
            request,
            200,
            format!(r#"{{"status":"ok","service":"{SERVICE}"}}"#).into_bytes(),
        ),
        _ => {
            let err = Error::NotFound(format!("no route for {method} {path}"));
            log::debug!("{err}");
            respond_error(request, &err);
        }
    }
}

fn check_api_key(request: &Request, app: &App) -> Result<(), Error> {
    let Some(key) = &app.cfg.api_key else {
        return Ok(());
    };
    let presented = request.headers().iter().find_map(|h| {
        let v = h.value.as_str();
        if h.field.equiv("x-api-key") {
            Some(v)
        } else if h.field.equiv("authorization") {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        } else {
            None
        }
    });
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), key.as_bytes()) => Ok(()),
        _ => Err(Error::Auth(
            "invalid proxy API key: send the PROXY_API_KEY value as x-api-key or Bearer token"
                .into(),
        )),
    }
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn key_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
