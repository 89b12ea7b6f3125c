//! `make bench`: the proxy's latency, throughput, concurrency and resource use against a local
//! mock of the Codex Responses backend, each figure beside the same workload run directly
//! against the mock (no proxy) as its baseline.
//!
//! This process holds the mock backend and the load client; the proxy is the real release binary
//! (`target/<profile>/codex-claude-proxy`), started as a child with `--port 0`, so its RSS, thread
//! count, CPU time and start-up time are its own. The mock writes, in every text delta, the
//! nanoseconds since an `Instant` taken once in this process (CLOCK_MONOTONIC); the client, in
//! the same process, subtracts it from the time it read the event: that is the event's delay,
//! measured exactly, with and without the proxy in between. Only 127.0.0.1 is used.
//!
//! `BENCH_PROXY_BIN=path` benchmarks that binary (`make bench` passes the one `make build` made,
//! so nothing is rebuilt); `BENCH_ECHO=1` copies the proxy's log to stderr;
//! `BENCH_ONLY=throughput,long` runs only the named workloads (latency, throughput, concurrency,
//! burst, sequential, long, tokens); `BENCH_ROUNDS=N` runs each one N times, via and direct in
//! turn, and shows the round with the median ratio of their wall times (for A/B runs and
//! profiles).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

#[path = "benchmarks/long_session.rs"]
mod long_session;
#[path = "benchmarks/token_classes.rs"]
mod token_classes;

// ---------------------------------------------------------------------------------------------
// Clocks and counters

static BASE: OnceLock<Instant> = OnceLock::new();
static MOCK_CPU_NS: AtomicU64 = AtomicU64::new(0);
static CLIENT_CPU_NS: AtomicU64 = AtomicU64::new(0);
static MOCK_ACCEPTS: AtomicUsize = AtomicUsize::new(0);
static CLIENT_CONNECTS: AtomicUsize = AtomicUsize::new(0);

/// Monotonic nanoseconds since the process-wide base.
fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// CPU time of the calling thread (ns on CPU, from `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Charges the CPU a thread used since the last charge to a shared counter, so work done by
/// long-lived (keep-alive) threads is credited to the workload that caused it.
struct CpuMeter(u64);

impl CpuMeter {
    fn new() -> CpuMeter {
        CpuMeter(thread_cpu_ns())
    }
    fn charge(&mut self, to: &AtomicU64) {
        let now = thread_cpu_ns();
        to.fetch_add(now.saturating_sub(self.0), Relaxed);
        self.0 = now;
    }
}

/// utime + stime of a process in ns, all threads including exited ones (USER_HZ = 100).
fn process_cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) * 10_000_000
}

/// A `/proc/PID/status` field in its unit (kB for memory), 0 if absent.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 pieces shared by the mock and the client

/// Reads one chunk of a chunked body; `None` at the final zero-length chunk.
fn read_chunk(r: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
        .map_err(|_| io::Error::other(format!("bad chunk size line {line:?}")))?;
    if size == 0 {
        // Trailers, if any, up to the empty line.
        while line != "\r\n" {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                break;
            }
        }
        return Ok(None);
    }
    let mut data = vec![0; size + 2];
    r.read_exact(&mut data)?;
    data.truncate(size);
    Ok(Some(data))
}

/// Lower-cased header names with their values.
type Headers = Vec<(String, String)>;

/// Status or request line plus headers; `None` on a clean EOF before any byte.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<(String, Headers)>> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(Some((first.trim_end().to_owned(), headers)));
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name(name.into())
        .stack_size(256 << 10)
        .spawn(f)
        .expect("spawn a thread")
}

// ---------------------------------------------------------------------------------------------
// Mock Codex backend: raw TcpListener, keep-alive, one thread per connection, accepts counted

fn start_mock() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock");
    let addr = listener.local_addr().expect("mock address");
    spawn("mock-accept", move || {
        for stream in listener.incoming().flatten() {
            MOCK_ACCEPTS.fetch_add(1, Relaxed);
            spawn("mock-conn", move || {
                let _ = serve(stream);
            });
        }
    });
    addr
}

fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    let mut cpu = CpuMeter::new();
    while let Some((line, headers)) = read_head(&mut r)? {
        let mut body = Vec::new();
        if header(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            while let Some(c) = read_chunk(&mut r)? {
                body.extend(c);
            }
        } else if let Some(n) =
            header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok())
        {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("");
        if path.contains("/models") {
            let slugs = ["gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna"];
            let models: Vec<_> = slugs
                .iter()
                .map(|s| {
                    serde_json::json!({"slug": s, "supported_reasoning_levels":
                [{"effort": "low"}, {"effort": "medium"}, {"effort": "high"}]})
                })
                .collect();
            let json = serde_json::json!({ "models": models }).to_string();
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                json.len()
            )?;
        } else if path.contains("/oauth") {
            out.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
        } else {
            let (n, gap) = workload_in(&body);
            stream_reply(&mut out, n, gap)?;
        }
        cpu.charge(&MOCK_CPU_NS);
    }
    Ok(())
}

/// The client puts `bench n=N gap_us=G` in its prompt; the proxy passes it through unchanged.
fn workload_in(body: &[u8]) -> (usize, Duration) {
    let text = String::from_utf8_lossy(body);
    let num = |key: &str| -> u64 {
        // The last one: a long history may quote the bench's own source.
        let Some(at) = text.rfind(key) else { return 0 };
        text[at + key.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    };
    (
        num("bench n=") as usize,
        Duration::from_micros(num("gap_us=")),
    )
}

/// Appends one SSE event as one HTTP chunk.
fn push_event(buf: &mut Vec<u8>, name: &str, data: &str) {
    let len = format!("event: {name}\ndata: {data}\n\n").len();
    let _ = write!(buf, "{len:x}\r\nevent: {name}\ndata: {data}\n\n\r\n");
}

/// With a gap, every event is written (and so flushed: TCP_NODELAY) on its own; back to back
/// (gap 0), events go out in 16 KiB writes, as a fast TLS upstream's would arrive, so that the
/// mock is not what limits the throughput figures.
fn stream_reply(out: &mut TcpStream, n: usize, gap: Duration) -> io::Result<()> {
    let mut buf =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    push_event(
        &mut buf,
        "response.created",
        r#"{"type":"response.created","response":{"id":"r"}}"#,
    );
    push_event(
        &mut buf,
        "response.output_item.added",
        r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}"#,
    );
    for i in 0..n {
        if !gap.is_zero() || buf.len() >= 16 << 10 {
            out.write_all(&buf)?;
            buf.clear();
        }
        if i > 0 && !gap.is_zero() {
            thread::sleep(gap);
        }
        let data = format!(
            r#"{{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"@{}"}}"#,
            now_ns()
        );
        push_event(&mut buf, "response.output_text.delta", &data);
    }
    push_event(
        &mut buf,
        "response.output_item.done",
        r#"{"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}"#,
    );
    let done = format!(
        r#"{{"type":"response.completed","response":{{"id":"r","usage":{{"input_tokens":10,"output_tokens":{n},"total_tokens":{}}}}}}}"#,
        10 + n
    );
    push_event(&mut buf, "response.completed", &done);
    buf.extend_from_slice(b"0\r\n\r\n");
    out.write_all(&buf)
}

/// A byte relay in the proxy's place: each connection to it is copied both ways, unread, to
/// `to` (64 KiB reads, as the proxy's), on two threads of this process. Its throughput is the
/// most any proxy can reach on this machine: the cost of the extra hop itself.
fn start_relay(to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
    let addr = listener.local_addr().expect("relay address");
    spawn("relay-accept", move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(to) else {
                continue;
            };
            let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
            let (Ok(client_out), Ok(upstream_out)) = (client.try_clone(), upstream.try_clone())
            else {
                continue;
            };
            spawn("relay-up", move || copy(client, upstream_out));
            spawn("relay-down", move || copy(upstream, client_out));
        }
    });
    addr
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0; 64 << 10];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

// ---------------------------------------------------------------------------------------------
// Load client: raw TcpStream, keep-alive, chunked SSE read event by event

#[derive(Default)]
struct Outcome {
    ok: bool,
    ttfb_ns: u64,
    /// From sending the request to reading the first text delta.
    first_delta_ns: u64,
    deltas: usize,
    /// Per text delta: time read here minus time the mock wrote it.
    delays: Vec<u64>,
}

struct Client {
    addr: SocketAddr,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    fn connect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect(self.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        CLIENT_CONNECTS.fetch_add(1, Relaxed);
        self.conn = Some((BufReader::with_capacity(64 << 10, s.try_clone()?), s));
        Ok(())
    }

    /// Sends a request; retries once on a fresh connection if a kept-alive one was closed.
    fn request(&mut self, method: &str, path: &str, body: &str, n: usize) -> Outcome {
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
    fn exchange(
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
fn scan_event(event: &[u8], at: u64, o: &mut Outcome) -> bool {
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

fn prompt(n: usize, gap_us: u64) -> String {
    let text = format!("bench n={n} gap_us={gap_us}");
    serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": text}]})
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// Workloads

/// Where the client sends its requests: the proxy, or the mock itself.
#[derive(Clone, Copy)]
struct Target {
    addr: SocketAddr,
    path: &'static str,
    proxy_pid: Option<u32>,
}

struct Load {
    workers: usize,
    per_worker: usize,
    n: usize,
    gap_us: u64,
}

impl Load {
    /// `workers` clients at once, each sending `per_worker` requests for `n` deltas `gap_us` apart.
    fn new(workers: usize, per_worker: usize, n: usize, gap_us: u64) -> Load {
        Load {
            workers,
            per_worker,
            n,
            gap_us,
        }
    }
}

#[derive(Default)]
struct Run {
    wall: Duration,
    outcomes: Vec<Outcome>,
    proxy_cpu_ns: u64,
    mock_cpu_ns: u64,
    client_cpu_ns: u64,
    upstream_accepts: usize,
    client_connects: usize,
    peak_rss_kb: u64,
    peak_threads: u64,
}

impl Run {
    fn ok(&self) -> usize {
        self.outcomes.iter().filter(|o| o.ok).count()
    }
    fn delays(&self) -> Vec<u64> {
        let mut d: Vec<u64> = self
            .outcomes
            .iter()
            .flat_map(|o| o.delays.iter().copied())
            .collect();
        d.sort_unstable();
        d
    }
    fn first_deltas(&self) -> Vec<u64> {
        let mut d: Vec<u64> = self.outcomes.iter().map(|o| o.first_delta_ns).collect();
        d.sort_unstable();
        d
    }
    fn ttfbs(&self) -> Vec<u64> {
        let mut d: Vec<u64> = self.outcomes.iter().map(|o| o.ttfb_ns).collect();
        d.sort_unstable();
        d
    }
    fn deltas(&self) -> usize {
        self.outcomes.iter().map(|o| o.deltas).sum()
    }
    fn ok_of(&self) -> String {
        format!("{}/{}", self.ok(), self.outcomes.len())
    }
    fn wall_ns(&self) -> u64 {
        self.wall.as_nanos() as u64
    }
    /// CPU as a percentage of one core over the run.
    fn pct(&self, ns: u64) -> String {
        format!(
            "{:.0}%",
            ns as f64 * 100.0 / self.wall.as_nanos().max(1) as f64
        )
    }
    fn proxy_pct(&self) -> String {
        self.pct(self.proxy_cpu_ns)
    }
    /// Mock and client CPU: shows whether the load side could be the bottleneck.
    fn load_pct(&self) -> String {
        format!(
            "{} / {}",
            self.pct(self.mock_cpu_ns),
            self.pct(self.client_cpu_ns)
        )
    }
}

fn run(t: Target, load: &Load) -> Run {
    run_body(t, load, prompt(load.n, load.gap_us))
}

/// Runs `load` with this request body (its prompt holds the `bench n=…` line).
fn run_body(t: Target, load: &Load, body: String) -> Run {
    let body = Arc::new(body);
    let results = Arc::new(Mutex::new(Vec::new()));
    let start = Arc::new(Barrier::new(load.workers + 1));
    let done = Arc::new(AtomicUsize::new(0));
    let sampler = t.proxy_pid.map(|pid| {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let (mut rss, mut threads) = (0, 0);
            while done.load(Relaxed) == 0 {
                rss = rss.max(proc_status(pid, "VmRSS"));
                threads = threads.max(proc_status(pid, "Threads"));
                thread::sleep(Duration::from_millis(20));
            }
            (rss, threads)
        })
    });
    let (accepts0, connects0) = (MOCK_ACCEPTS.load(Relaxed), CLIENT_CONNECTS.load(Relaxed));
    let (mock0, client0) = (MOCK_CPU_NS.load(Relaxed), CLIENT_CPU_NS.load(Relaxed));
    let proxy0 = t.proxy_pid.map_or(0, process_cpu_ns);
    let workers: Vec<_> = (0..load.workers)
        .map(|_| {
            let (body, results, start) =
                (Arc::clone(&body), Arc::clone(&results), Arc::clone(&start));
            let (per_worker, n) = (load.per_worker, load.n);
            spawn("client", move || {
                let mut client = Client::new(t.addr);
                let mut cpu = CpuMeter::new();
                start.wait();
                let mut mine = Vec::with_capacity(per_worker);
                for _ in 0..per_worker {
                    mine.push(client.request("POST", t.path, &body, n));
                }
                cpu.charge(&CLIENT_CPU_NS);
                results.lock().expect("results lock").extend(mine);
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for w in workers {
        w.join().expect("client thread");
    }
    let wall = began.elapsed();
    thread::sleep(Duration::from_millis(20)); // let the mock threads charge their last response
    done.store(1, Relaxed);
    let (peak_rss_kb, peak_threads) = sampler.map_or((0, 0), |s| s.join().expect("sampler"));
    Run {
        wall,
        outcomes: std::mem::take(&mut *results.lock().expect("results lock")),
        proxy_cpu_ns: t.proxy_pid.map_or(0, process_cpu_ns) - proxy0,
        mock_cpu_ns: MOCK_CPU_NS.load(Relaxed) - mock0,
        client_cpu_ns: CLIENT_CPU_NS.load(Relaxed) - client0,
        upstream_accepts: MOCK_ACCEPTS.load(Relaxed) - accepts0,
        client_connects: CLIENT_CONNECTS.load(Relaxed) - connects0,
        peak_rss_kb,
        peak_threads,
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy under test

struct Proxy {
    child: Child,
    addr: SocketAddr,
    startup: Duration,
    log_warnings: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proxy {
    /// Stops the child we started, also when the bench panics.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `BENCH_PROXY_BIN=path` (what `make bench` passes: the binary `make build` made), else the
/// binary next to this example. Never rebuilt here: a nested `cargo build` inherits the
/// variables `cargo run` set (OUT_DIR, CARGO_MANIFEST_DIR, build-script outputs), which build
/// scripts watch, so it rebuilt ring and the next plain `cargo build` rebuilt it again.
fn proxy_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("BENCH_PROXY_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples/bench")
        .join("codex-claude-proxy");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut dirs = vec![PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    let mut newest = None;
    while let Some(dir) = dirs.pop() {
        for path in std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            newest = newest.max(modified(&path));
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    if modified(&bin) < newest {
        eprintln!(
            "bench: {} is older than the sources (or missing); `make bench` builds it first",
            bin.display()
        );
    }
    bin
}

fn start_proxy(bin: &Path, mock: SocketAddr, home: &Path) -> Proxy {
    let began = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .args(["--host", "127.0.0.1", "--port", "0", "--codex-home"])
        .arg(home)
        .arg("--upstream-url")
        .arg(format!("http://{mock}/backend-api/codex/responses"))
        .arg("--refresh-url")
        .arg(format!("http://{mock}/oauth/token"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (build it with cargo build --release)",
                bin.display()
            )
        });
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .expect("the proxy exited before listening")
            .expect("proxy stderr");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .parse()
                .expect("proxy address");
        }
    };
    let log_warnings = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log_warnings);
    spawn("proxy-log", move || {
        let echo = std::env::var_os("BENCH_ECHO").is_some();
        for line in lines.map_while(Result::ok) {
            if echo {
                eprintln!("proxy: {line}");
            }
            if line.contains("WARN") || line.contains("ERROR") {
                sink.lock().expect("log lock").push(line);
            }
        }
    });
    while !Client::new(addr).request("GET", "/health", "", 0).ok {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the proxy never answered /health"
        );
        thread::sleep(Duration::from_millis(1));
    }
    Proxy {
        child,
        addr,
        startup: began.elapsed(),
        log_warnings,
    }
}

/// A JWT (unsigned) whose `exp` is far in the future, in the Codex CLI's `auth.json`.
fn write_auth(dir: &Path) {
    fn b64url(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut s = String::new();
        for c in bytes.chunks(3) {
            let n = c.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - c.len()));
            (0..=c.len()).for_each(|i| s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char));
        }
        s
    }
    let jwt = format!(
        "{}.{}.sig",
        b64url(br#"{"alg":"none"}"#),
        b64url(br#"{"exp":4000000000}"#)
    );
    let doc = serde_json::json!({"tokens": {"access_token": jwt, "refresh_token": "rt", "account_id": "acc"}});
    std::fs::create_dir_all(dir).expect("create the codex home");
    std::fs::write(dir.join("auth.json"), doc.to_string()).expect("write auth.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(dir.join("auth.json"), private).expect("chmod auth.json");
    }
}

// ---------------------------------------------------------------------------------------------
// Table

fn pctl(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn dur(ns: u64) -> String {
    match ns {
        0..10_000 => format!("{:.1} µs", ns as f64 / 1e3),
        10_000..10_000_000 => format!("{} µs", ns / 1000),
        10_000_000..10_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

struct Table(Vec<[String; 4]>);

impl Table {
    fn section(&mut self, title: &str) {
        self.0.push([
            format!("[{title}]"),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    /// A row whose ratio is via / direct of the two raw numbers.
    fn cmp(&mut self, metric: &str, via: f64, direct: f64, show: impl Fn(f64) -> String) {
        let ratio = if direct > 0.0 {
            format!("×{:.2}", via / direct)
        } else {
            "—".into()
        };
        self.0
            .push([format!("  {metric}"), show(via), show(direct), ratio]);
    }
    /// Rows of durations (ns) at the given quantiles of two sorted samples.
    fn times(&mut self, metric: &str, quantiles: &[f64], via: &[u64], direct: &[u64]) {
        for &q in quantiles {
            let name = if quantiles.len() == 1 {
                metric.to_owned()
            } else if q >= 1.0 {
                format!("{metric} max")
            } else {
                format!("{metric} p{}", (q * 100.0).round())
            };
            let (a, b) = (pctl(via, q) as f64, pctl(direct, q) as f64);
            self.cmp(&name, a, b, |v| dur(v as u64));
        }
    }
    fn row(&mut self, metric: &str, via: String, direct: String) {
        self.0
            .push([format!("  {metric}"), via, direct, "—".into()]);
    }
    fn print(&self) {
        let head = ["metric", "via proxy", "direct", "ratio"].map(String::from);
        let rows: Vec<&[String; 4]> = std::iter::once(&head).chain(&self.0).collect();
        // Section titles span the row, so they do not widen the first column.
        let cells = rows.iter().filter(|r| !r[1].is_empty());
        let w: Vec<usize> = (0..4)
            .map(|c| {
                cells
                    .clone()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (i, r) in rows.iter().enumerate() {
            if r[1].is_empty() && i > 0 {
                println!("{}", r[0]);
                continue;
            }
            println!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            );
            if i == 0 {
                println!("{}", "-".repeat(w.iter().sum::<usize>() + 6));
            }
        }
    }
}

fn machine() -> String {
    let cpus = thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| {
        l.strip_prefix("model name")?
            .split_once(':')
            .map(|(_, v)| v.trim().to_owned())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "nproc {cpus}, {}, Linux {}",
        model.unwrap_or_else(|| "unknown CPU".into()),
        kernel.trim()
    )
}

// ---------------------------------------------------------------------------------------------
// Long sessions: big request bodies

/// Resets the proxy's peak RSS (VmHWM) to its current RSS, which it returns (kB).
fn reset_peak(pid: u32) -> u64 {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    proc_status(pid, "VmRSS")
}

struct LongSession {
    body_bytes: usize,
    via: Run,
    direct: Run,
    /// Peak RSS above the RSS before the workload, kB.
    peak_kb: u64,
    count_tokens_ns: Vec<u64>,
    zeros_bytes: usize,
    zeros: Run,
    zeros_peak_kb: u64,
}

/// 20 requests with a 2 MiB history, through the proxy and straight to the mock; its
/// count_tokens; and one 32 MiB request whose tool input is `[0,0,…]`.
fn long_sessions(pid: u32, via: Target, direct: Target) -> LongSession {
    let body = long_session::history(2 << 20, "bench n=20 gap_us=0");
    let load = Load::new(1, 20, 20, 0);
    let before = reset_peak(pid);
    let v = run_body(via, &load, body.clone());
    let peak_kb = proc_status(pid, "VmHWM").saturating_sub(before);
    let x = run_body(direct, &load, body.clone());
    let mut client = Client::new(via.addr);
    let mut count_tokens_ns: Vec<u64> = (0..20)
        .map(|_| {
            let t = now_ns();
            client.request("POST", "/v1/messages/count_tokens", &body, 0);
            now_ns() - t
        })
        .collect();
    count_tokens_ns.sort_unstable();
    let zeros = long_session::zeros((32 << 20) - (64 << 10), "bench n=5 gap_us=0");
    let before = reset_peak(pid);
    let z = run_body(via, &Load::new(1, 1, 5, 0), zeros.clone());
    let zeros_peak_kb = proc_status(pid, "VmHWM").saturating_sub(before);
    LongSession {
        body_bytes: body.len(),
        via: v,
        direct: x,
        peak_kb,
        count_tokens_ns,
        zeros_bytes: zeros.len(),
        zeros: z,
        zeros_peak_kb,
    }
}

/// Peak RSS above idle, and as a multiple of the request body.
fn peak(kb: u64, body: usize) -> String {
    format!(
        "{} (×{:.1} the body)",
        mib(kb),
        kb as f64 * 1024.0 / body.max(1) as f64
    )
}

/// The stream translation alone, in this process (no sockets, no ureq): an upstream body of
/// `n` text deltas as the mock writes them (without the HTTP chunk framing), read from a 16 KiB
/// buffer as the proxy reads it, parsed, translated and encoded, the output taken away at every
/// 64 KiB as `deliver` would. Nanoseconds per event in the fastest of 31 runs (the cost itself,
/// without what else the machine was doing).
fn translation_alone(n: usize) -> f64 {
    use codex_claude_proxy::responses::parse_event;
    use codex_claude_proxy::sse::SseReader;
    use codex_claude_proxy::translate::ids::ToolNames;
    use codex_claude_proxy::translate::request::ThinkingMode;
    use codex_claude_proxy::translate::stream::{SseSink, Step, StreamTranslator};
    let mut upstream = Vec::new();
    let mut event = |name: &str, data: &str| {
        let _ = write!(upstream, "event: {name}\ndata: {data}\n\n");
    };
    event(
        "response.created",
        r#"{"type":"response.created","response":{"id":"r"}}"#,
    );
    for i in 0..n {
        let data = format!(
            r#"{{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"@{}"}}"#,
            1_000_000_000 + i
        );
        event("response.output_text.delta", &data);
    }
    event(
        "response.completed",
        r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":10,"output_tokens":5}}}"#,
    );
    let runs: Vec<f64> = (0..31)
        .map(|_| {
            let began = Instant::now();
            let mut tr = StreamTranslator::new(
                "msg_1".into(),
                "claude".into(),
                "gpt".into(),
                ThinkingMode::Off,
                ToolNames::default(),
                0,
                0,
            );
            let mut sink = SseSink::default();
            let mut reader =
                SseReader::new(BufReader::with_capacity(16 << 10, &upstream[..]), 1 << 20);
            while let Ok(Some(ev)) = reader.next_event() {
                let Ok(parsed) = parse_event(ev.data) else {
                    continue;
                };
                if tr.on_event(&parsed, &mut sink) != Ok(Step::Continue) {
                    break;
                }
                if sink.buf.len() >= 64 << 10 {
                    sink.buf.clear();
                }
            }
            began.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    runs.into_iter().fold(f64::MAX, f64::min)
}

fn print_token_classes() {
    let classes = token_classes::classes();
    println!(
        "\ncount_tokens: estimate vs exact o200k counts per text class (tests/fixtures/tokens),\n\
         and the estimator's speed on that text\n"
    );
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7}",
        "class", "samples", "bytes", "exact", "estimate", "error", "MB/s"
    );
    let (mut exact, mut estimate) = (0, 0);
    for c in &classes {
        println!(
            "{:<12} {:>7} {:>7} {:>7} {:>8} {:>+6.1}% {:>7.0}",
            c.name,
            c.samples,
            c.bytes,
            c.exact,
            c.estimate,
            (c.estimate as f64 / c.exact as f64 - 1.0) * 100.0,
            c.mb_per_s
        );
        exact += c.exact;
        estimate += c.estimate;
    }
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>8} {:>+6.1}%",
        "all",
        classes.iter().map(|c| c.samples).sum::<usize>(),
        classes.iter().map(|c| c.bytes).sum::<usize>(),
        exact,
        estimate,
        (estimate as f64 / exact as f64 - 1.0) * 100.0
    );
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let bench_began = Instant::now();
    now_ns(); // fix the clock base before any thread reads it
    let home = std::env::temp_dir().join(format!("ccp-bench-{}", std::process::id()));
    write_auth(&home);
    let bin = proxy_binary();
    let mock = start_mock();
    let proxy = start_proxy(&bin, mock, &home);
    let pid = proxy.child.id();
    thread::sleep(Duration::from_millis(300)); // the start-up model-list fetch, then idle
    let (idle_rss, idle_threads) = (proc_status(pid, "VmRSS"), proc_status(pid, "Threads"));
    let via = Target {
        addr: proxy.addr,
        path: "/v1/messages",
        proxy_pid: Some(pid),
    };
    let direct = Target {
        addr: mock,
        path: "/backend-api/codex/responses",
        proxy_pid: None,
    };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|w| w.trim() == name);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let relay = Target {
        addr: start_relay(mock),
        ..direct
    };
    // Each workload through the proxy and directly (and, `with_relay`, through a byte relay),
    // `rounds` times.
    let workload = |name: &str, load: Load, with_relay: bool| -> Option<(Run, Run, Option<Run>)> {
        if !wanted(name) {
            return None;
        }
        eprintln!(
            "bench: {:>5.1} s: {name}: {} × {} request(s) of {} deltas{}",
            bench_began.elapsed().as_secs_f64(),
            load.workers,
            load.per_worker,
            load.n,
            if rounds > 1 {
                format!(", {rounds} rounds")
            } else {
                String::new()
            }
        );
        let mut all: Vec<(Run, Run, Option<Run>)> = (0..rounds)
            .map(|_| {
                let v = run(via, &load);
                let x = run(direct, &load);
                (v, x, with_relay.then(|| run(relay, &load)))
            })
            .collect();
        // The round whose via/direct ratio is the median: its figures were measured back to
        // back (this VM's speed changes from minute to minute).
        let ratio =
            |(v, x, _): &(Run, Run, Option<Run>)| v.wall.as_secs_f64() / x.wall.as_secs_f64();
        all.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        Some(all.swap_remove(all.len() / 2))
    };
    let both = |name: &str, load: Load| workload(name, load, false);

    let latency = both("latency", Load::new(1, 1, 200, 10_000));
    let throughput = workload("throughput", Load::new(1, 5, 20_000, 0), true);
    let concurrency = both("concurrency", Load::new(200, 1, 100, 50_000));
    let burst = both("burst", Load::new(50, 20, 5, 0));
    let sequential = both("sequential", Load::new(1, 200, 5, 0));
    let long = wanted("long").then(|| {
        eprintln!(
            "bench: {:>5.1} s: long sessions (2 MiB history; 32 MiB tool input){}",
            bench_began.elapsed().as_secs_f64(),
            if rounds > 1 {
                format!(", {rounds} rounds")
            } else {
                String::new()
            }
        );
        let mut all: Vec<LongSession> = (0..rounds)
            .map(|_| long_sessions(pid, via, direct))
            .collect();
        all.sort_by_key(|l| l.via.wall);
        all.swap_remove(all.len() / 2)
    });
    thread::sleep(Duration::from_millis(300));
    let (after_rss, peak_hwm) = (proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM"));

    let mut t = Table(Vec::new());
    if let Some((v, x, _)) = &latency {
        t.section("latency: 1 stream, 200 deltas 10 ms apart");
        t.times("time to first byte", &[1.0], &v.ttfbs(), &x.ttfbs());
        t.times("event delay", &[0.5, 0.99, 1.0], &v.delays(), &x.delays());
        t.row("streams ok", v.ok_of(), x.ok_of());
    }
    if let Some((v, x, relayed)) = &throughput {
        t.section("throughput: 1 stream of 20,000 deltas back to back, 5 times in a row");
        let eps = |r: &Run| r.deltas() as f64 / r.wall.as_secs_f64();
        t.cmp("events/s", eps(v), eps(x), |e| format!("{e:.0}"));
        if let Some(r) = relayed {
            t.cmp(
                "events/s, a byte relay in the proxy's place",
                eps(r),
                eps(x),
                |e| format!("{e:.0}"),
            );
            t.row(
                "events/s, the proxy ÷ that relay",
                format!("×{:.2}", eps(v) / eps(r)),
                "—".into(),
            );
        }
        t.times("wall time", &[1.0], &[v.wall_ns()], &[x.wall_ns()]);
        let per10k = dur(v.proxy_cpu_ns * 10_000 / v.deltas().max(1) as u64);
        t.row("proxy CPU per 10k events", per10k, "—".into());
        t.row(
            "translation alone, per event (in-process)",
            format!("{:.0} ns", translation_alone(20_000)),
            "—".into(),
        );
        t.row("proxy CPU, % of a core", v.proxy_pct(), "—".into());
        t.row("mock / client CPU, % of a core", v.load_pct(), x.load_pct());
        t.row("streams ok", v.ok_of(), x.ok_of());
    }
    if let Some((v, x, _)) = &concurrency {
        t.section("concurrency: 200 streams at once, 100 deltas 50 ms apart (~5 s)");
        t.row("streams ok", v.ok_of(), x.ok_of());
        t.times("wall time", &[1.0], &[v.wall_ns()], &[x.wall_ns()]);
        t.times("event delay", &[0.5, 0.99, 1.0], &v.delays(), &x.delays());
        t.times("time to first byte", &[0.5, 1.0], &v.ttfbs(), &x.ttfbs());
        let late = |r: &Run| {
            r.ttfbs()
                .iter()
                .filter(|&&ns| ns > 1_000_000_000)
                .count()
                .to_string()
        };
        t.row("streams waiting > 1 s for a first byte", late(v), late(x));
        let rss = format!("{} → {}", mib(idle_rss), mib(v.peak_rss_kb));
        t.row("proxy RSS, idle → peak", rss, "—".into());
        let threads = format!("{idle_threads} → {}", v.peak_threads);
        t.row("proxy threads, idle → peak", threads, "—".into());
        t.row("proxy CPU, % of a core", v.proxy_pct(), "—".into());
        t.row("mock / client CPU, % of a core", v.load_pct(), x.load_pct());
    }
    if let Some((v, x, _)) = &sequential {
        t.section("sequential: 200 short streams one after another on one connection");
        let per_request = |r: &Run| r.wall.as_nanos() as u64 / r.outcomes.len().max(1) as u64;
        t.times(
            "time per request",
            &[1.0],
            &[per_request(v)],
            &[per_request(x)],
        );
        t.row("streams ok", v.ok_of(), x.ok_of());
    }
    if let Some((v, x, _)) = &burst {
        t.section("burst: 1,000 streams of 5 deltas, 50 at a time");
        let rps = |r: &Run| r.outcomes.len() as f64 / r.wall.as_secs_f64();
        t.cmp("requests/s", rps(v), rps(x), |e| format!("{e:.0}"));
        let errors = |r: &Run| (r.outcomes.len() - r.ok()).to_string();
        t.row("errors", errors(v), errors(x));
        t.times("time to first byte", &[0.5, 0.99], &v.ttfbs(), &x.ttfbs());
        let (accepts, connects) = (
            v.upstream_accepts.to_string(),
            x.upstream_accepts.to_string(),
        );
        t.row("TCP connections accepted by the mock", accepts, connects);
        let (accepts, connects) = (v.client_connects.to_string(), x.client_connects.to_string());
        t.row("TCP connections opened by the client", accepts, connects);
        t.row(
            "proxy CPU per request",
            dur(v.proxy_cpu_ns / 1000),
            "—".into(),
        );
        t.row("mock / client CPU, % of a core", v.load_pct(), x.load_pct());
    }
    if let Some(long) = &long {
        let (v, x) = (&long.via, &long.direct);
        t.section(&format!(
        "long session: {:.1} MiB Claude Code history (30 tools, file contents), 20 requests in a row",
        long.body_bytes as f64 / 1048576.0
    ));
        t.times(
            "time to first token",
            &[0.5],
            &v.first_deltas(),
            &x.first_deltas(),
        );
        let added = pctl(&v.first_deltas(), 0.5).saturating_sub(pctl(&x.first_deltas(), 0.5));
        t.row("added time to first token p50", dur(added), "—".into());
        let per = v.proxy_cpu_ns / v.outcomes.len().max(1) as u64;
        t.row("proxy CPU per request", dur(per), "—".into());
        t.row(
            "proxy peak RSS above idle",
            peak(long.peak_kb, long.body_bytes),
            "—".into(),
        );
        t.row(
            "count_tokens of the history p50",
            dur(pctl(&long.count_tokens_ns, 0.5)),
            "—".into(),
        );
        t.row("streams ok", v.ok_of(), x.ok_of());
        t.section(&format!(
            "one {:.0} MiB request: a tool input of [0,0,…]",
            long.zeros_bytes as f64 / 1048576.0
        ));
        t.row(
            "proxy peak RSS above idle",
            peak(long.zeros_peak_kb, long.zeros_bytes),
            "—".into(),
        );
        t.row("stream ok", long.zeros.ok_of(), "—".into());
    }

    t.section("process");
    t.row(
        "start-up to first /health 200",
        dur(proxy.startup.as_nanos() as u64),
        "—".into(),
    );
    t.row(
        "idle RSS / threads",
        format!("{} / {idle_threads}", mib(idle_rss)),
        "—".into(),
    );
    let after = format!("{} / {}", mib(after_rss), mib(peak_hwm));
    t.row("RSS after the workloads / peak (VmHWM)", after, "—".into());
    let size = std::fs::metadata(&bin).map_or("n/a".into(), |m| mib(m.len() / 1024));
    t.row("binary size", size, "—".into());

    println!();
    t.print();
    println!(
        "\nvia proxy: client → proxy → mock; direct: client → mock; ratio = via / direct.\n\
         event delay: time the client read a text delta minus the time the mock wrote it (one\n\
         CLOCK_MONOTONIC base in this process); the proxy adds via − direct. The mock writes each\n\
         event on its own when events are spaced, in 16 KiB writes when back to back.\n\
         The proxy runs as its own process: its RSS, threads and CPU (utime+stime, 10 ms ticks)\n\
         are its own. Mock and client share the bench process; their CPU is per thread\n\
         (schedstat), as % of one core. Proxy binary: {}.\n\
         Machine: {}. Bench wall time {:.1} s.",
        bin.display(),
        machine(),
        bench_began.elapsed().as_secs_f64()
    );
    let warnings = proxy.log_warnings.lock().expect("log lock");
    if !warnings.is_empty() {
        println!(
            "proxy logged {} warning(s)/error(s), first: {}",
            warnings.len(),
            warnings[0]
        );
    }
    drop(warnings);
    drop(proxy);
    let _ = std::fs::remove_dir_all(&home);
    if wanted("tokens") {
        print_token_classes();
    }
}
