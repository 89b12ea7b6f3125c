//! Signal handling: the C library's `signal()` on Unix (libc), the console's
//! `SetConsoleCtrlHandler` on Windows (windows-sys), with handlers that only touch an atomic.
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
    use std::sync::atomic::Ordering;

    use libc::{SIG_IGN, SIGINT, SIGQUIT, SIGTERM, c_int, sighandler_t, signal};

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
            if signal(sig, handler as sighandler_t) == SIG_IGN {
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

#[cfg(windows)]
mod imp {
    //! Windows has no signals: the console calls a handler routine, on a thread of its own, for
    //! Ctrl-C, Ctrl-Break and the console window closing (then the process ends when the routine
    //! returns, or after 5 s at most). A console program has no other graceful stop: `taskkill`
    //! without `/F` does not apply to it.
    use std::sync::atomic::Ordering;

    use windows_sys::Win32::System::Console::{
        CTRL_BREAK_EVENT, CTRL_C_EVENT, SetConsoleCtrlHandler,
    };

    type HandlerRoutine = unsafe extern "system" fn(u32) -> windows_sys::core::BOOL;

    /// Ctrl-C and Ctrl-Break count as termination requests, like SIGINT; closing the window
    /// (or logging off) counts too, and the routine then holds the process for the few seconds
    /// Windows allows, so requests in flight get that long to finish.
    unsafe extern "system" fn count_terminate(event: u32) -> i32 {
        super::TERMINATE.fetch_add(1, Ordering::SeqCst);
        if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
            std::thread::sleep(std::time::Duration::from_secs(4));
        }
        1
    }

    /// Ctrl-C and Ctrl-Break reach every process on the console, Claude Code included: the
    /// launcher marks them handled and carries on. A registered routine, unlike the "ignore
    /// Ctrl-C" flag, is not inherited, so Claude Code still gets its Ctrl-C.
    unsafe extern "system" fn do_nothing(event: u32) -> i32 {
        i32::from(event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT)
    }

    fn install(handler: HandlerRoutine) {
        // SAFETY: both routines are plain functions valid for the life of the process and only
        // touch an atomic (or sleep) on the thread Windows creates for them.
        unsafe {
            SetConsoleCtrlHandler(Some(handler), 1);
        }
    }

    pub fn catch_terminate() {
        install(count_terminate);
    }

    pub fn survive_terminal() {
        install(do_nothing);
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    pub fn catch_terminate() {}
    pub fn survive_terminal() {}
}

/// Counts SIGTERM and SIGINT (Windows: Ctrl-C, Ctrl-Break, closing the console) instead of
/// dying of them (see [`terminate_requests`]).
pub fn catch_terminate() {
    imp::catch_terminate();
}

/// Ignores the terminal's SIGINT and SIGQUIT (Windows: Ctrl-C and Ctrl-Break) in this
/// process; children keep the default.
pub fn survive_terminal() {
    imp::survive_terminal();
}
