//! Unix signal handling, the only `unsafe` in the crate: the C library's `signal()`, with
//! handlers that only touch an atomic. std links the C library already, so no crate is needed.
//!
//! * `serve` turns SIGTERM and SIGINT into a graceful shutdown (systemd, `docker stop` — where
//!   the proxy is PID 1 and a signal without a handler would be ignored — and Ctrl-C).
//! * The `claude` launcher outlives SIGINT/SIGQUIT, which the terminal sends to Claude Code too.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many termination signals arrived.
static TERMINATE: AtomicUsize = AtomicUsize::new(0);

/// Number of SIGTERM/SIGINT received since [`catch_terminate`].
pub fn terminate_requests() -> usize {
    TERMINATE.load(Ordering::SeqCst)
}

#[cfg(unix)]
mod imp {
    use std::ffi::c_int;
    use std::sync::atomic::Ordering;

    unsafe extern "C" {
        // `handler` and the result are `sighandler_t`: a function pointer, or SIG_DFL / SIG_IGN.
        fn signal(signum: c_int, handler: usize) -> usize;
    }

    // The same numbers on Linux and macOS.
    const SIGINT: c_int = 2;
    const SIGQUIT: c_int = 3;
    const SIGTERM: c_int = 15;
    const SIG_IGN: usize = 1;

    extern "C" fn do_nothing(_: c_int) {}

    extern "C" fn count_terminate(_: c_int) {
        // An atomic add is async-signal-safe.
        super::TERMINATE.fetch_add(1, Ordering::SeqCst);
    }

    /// Installs `handler` for `sig`, unless the process started with `sig` ignored (nohup, a
    /// background job): then it stays ignored, for this process and (through exec) its children.
    fn install(sig: c_int, handler: extern "C" fn(c_int)) {
        // SAFETY: `signal` is the C library's. Both handlers only touch atomics, so they are
        // async-signal-safe, and as plain functions they stay valid for the life of the process.
        unsafe {
            if signal(sig, handler as usize) == SIG_IGN {
                signal(sig, SIG_IGN);
            }
        }
    }

    pub fn catch_terminate() {
        install(SIGTERM, count_terminate);
        install(SIGINT, count_terminate);
    }

    pub fn survive_terminal() {
        // A caught signal is reset to its default in an exec'd child, so claude still reacts.
        install(SIGINT, do_nothing);
        install(SIGQUIT, do_nothing);
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn catch_terminate() {}
    // Windows delivers Ctrl-C to every console process; the launcher exits with its child.
    pub fn survive_terminal() {}
}

/// Counts SIGTERM and SIGINT instead of dying of them (see [`terminate_requests`]).
pub fn catch_terminate() {
    imp::catch_terminate();
}

/// Ignores the terminal's SIGINT and SIGQUIT in this process; children keep the default.
pub fn survive_terminal() {
    imp::survive_terminal();
}
