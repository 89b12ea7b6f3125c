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
//!
//! Here: the clocks and counters, the HTTP pieces mock and client share, the workloads and the
//! report. In `benchmarks/`: the mock backend and the byte relay (`mock.rs`), the load client
//! (`client.rs`), the proxy under test (`proxy.rs`), the table (`table.rs`), the long-session
//! request and runs (`long_session.rs`, `long_runs.rs`), the translation alone
//! (`translation.rs`) and the count_tokens classes (`token_classes.rs`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

#[path = "benchmarks/client.rs"]
mod client;
#[path = "benchmarks/long_runs.rs"]
mod long_runs;
#[path = "benchmarks/long_session.rs"]
mod long_session;
#[path = "benchmarks/mock.rs"]
mod mock;
#[path = "benchmarks/proxy.rs"]
mod proxy;
#[path = "benchmarks/table.rs"]
mod table;
#[path = "benchmarks/token_classes.rs"]
mod token_classes;
#[path = "benchmarks/translation.rs"]
mod translation;

use client::*;
use long_runs::*;
use mock::*;
use proxy::*;
use table::*;
use translation::*;

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

/// The proxy's CPU time so far, two ways: the process's utime + stime (every thread that ever
/// ran, in 10 ms ticks) and the sum of its live threads' run time (ns, from schedstat; threads
/// that ended are missing). [`cpu_between`] takes the better of the two differences.
#[derive(Clone, Copy, Default)]
struct CpuTime {
    ticks_ns: u64,
    threads_ns: u64,
}

fn process_cpu(pid: u32) -> CpuTime {
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
    let threads_ns = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    CpuTime {
        ticks_ns: (ticks(11) + ticks(12)) * 10_000_000,
        threads_ns,
    }
}

/// CPU time used between two readings: the live threads' precise sum, unless threads that ended
/// meanwhile make the coarse process total larger.
fn cpu_between(before: CpuTime, after: CpuTime) -> u64 {
    let precise = after.threads_ns.saturating_sub(before.threads_ns);
    let coarse = after.ticks_ns.saturating_sub(before.ticks_ns);
    if coarse > precise + 10_000_000 {
        coarse
    } else {
        precise
    }
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
    let proxy0 = t.proxy_pid.map(process_cpu).unwrap_or_default();
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
        proxy_cpu_ns: t
            .proxy_pid
            .map_or(0, |pid| cpu_between(proxy0, process_cpu(pid))),
        mock_cpu_ns: MOCK_CPU_NS.load(Relaxed) - mock0,
        client_cpu_ns: CLIENT_CPU_NS.load(Relaxed) - client0,
        upstream_accepts: MOCK_ACCEPTS.load(Relaxed) - accepts0,
        client_connects: CLIENT_CONNECTS.load(Relaxed) - connects0,
        peak_rss_kb,
        peak_threads,
    }
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
         The proxy runs as its own process: its RSS, threads and CPU are its own (CPU: its\n\
         threads' schedstat, or utime+stime in 10 ms ticks when threads ended during the run).\n\
         Mock and client share the bench process; their CPU is per thread (schedstat), as % of\n\
         one core. Proxy binary: {}.\n\
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
        token_classes::print();
    }
}
