//! The long-session workload: 20 requests with a 2 MiB history, its count_tokens, and one 32 MiB
//! request whose tool input is `[0,0,…]`, with the proxy's peak RSS during each.

use super::*;

/// Resets the proxy's peak RSS (VmHWM) to its current RSS, which it returns (kB).
pub(super) fn reset_peak(pid: u32) -> u64 {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    proc_status(pid, "VmRSS")
}

pub(super) struct LongSession {
    pub(super) body_bytes: usize,
    pub(super) via: Run,
    pub(super) direct: Run,
    /// Peak RSS above the RSS before the workload, kB.
    pub(super) peak_kb: u64,
    pub(super) count_tokens_ns: Vec<u64>,
    pub(super) zeros_bytes: usize,
    pub(super) zeros: Run,
    pub(super) zeros_peak_kb: u64,
}

/// 20 requests with a 2 MiB history, through the proxy and straight to the mock; its
/// count_tokens; and one 32 MiB request whose tool input is `[0,0,…]`.
pub(super) fn long_sessions(pid: u32, via: Target, direct: Target) -> LongSession {
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
pub(super) fn peak(kb: u64, body: usize) -> String {
    format!(
        "{} (×{:.1} the body)",
        mib(kb),
        kb as f64 * 1024.0 / body.max(1) as f64
    )
}
