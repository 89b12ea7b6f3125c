//! The proxy under test: the release binary started as a child with `--port 0` and a token
//! file of its own, its log read for its address and warnings.

use super::*;

pub(super) struct Proxy {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
    pub(super) startup: Duration,
    pub(super) log_warnings: Arc<Mutex<Vec<String>>>,
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
pub(super) fn proxy_binary() -> PathBuf {
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

pub(super) fn start_proxy(bin: &Path, mock: SocketAddr, home: &Path) -> Proxy {
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
pub(super) fn write_auth(dir: &Path) {
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
