use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Manages a collection of threads.
///
/// A new thread is created every time all the existing threads are full.
/// Any idle thread will automatically die after a few seconds.
///
/// Patched (see PATCHES.md): upstream queued a task whenever it counted a waiting thread, but a
/// thread it had just woken still counted as waiting until it ran, so in a burst of connections
/// several tasks were queued for one woken thread; the rest waited until some thread finished
/// its connection, which for a long stream or an idle keep-alive could take minutes. Now each
/// queued task claims one waiting thread for itself, under the queue's lock, and a task that
/// finds no unclaimed thread gets a new one.
pub struct TaskPool {
    sharing: Arc<Sharing>,
}

struct Sharing {
    state: Mutex<State>,

    // condvar that will be notified whenever a task is added to `todo`
    condvar: Condvar,

    // the name of the pool's threads (Patched, PATCHES.md 15)
    name: &'static str,
}

struct State {
    // list of the tasks to be done by worker threads
    todo: VecDeque<Box<dyn FnMut() + Send>>,

    // number of total worker threads running
    threads: usize,

    // number of waiting worker threads not claimed by a queued task
    // (threads waiting for work, minus tasks in `todo`)
    idle: usize,

    // set when the pool is dropped: waiting threads exit
    closing: bool,
}

/// Minimum number of active threads.
static MIN_THREADS: usize = 4;

/// How long a thread above the minimum waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_millis(5000);

impl TaskPool {
    pub fn new() -> TaskPool {
        TaskPool::named("tiny_http worker")
    }

    /// A pool whose threads carry `name` (Patched, PATCHES.md 15: the proxy runs its request
    /// threads on a pool of its own).
    pub fn named(name: &'static str) -> TaskPool {
        let pool = TaskPool {
            sharing: Arc::new(Sharing {
                state: Mutex::new(State {
                    todo: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    closing: false,
                }),
                condvar: Condvar::new(),
                name,
            }),
        };

        for _ in 0..MIN_THREADS {
            let mut state = pool.sharing.lock();
            pool.add_thread(&mut state, None)
        }

        pool
    }

    /// Executes a function in a thread.
    /// If no thread is available, spawns a new one.
    pub fn spawn(&self, code: Box<dyn FnMut() + Send>) {
        let mut state = self.sharing.lock();

        if state.idle == 0 {
            self.add_thread(&mut state, Some(code));
        } else {
            state.idle -= 1;
            state.todo.push_back(code);
            self.sharing.condvar.notify_one();
        }
    }

    /// Starts a worker, counted in `state`; if the system refuses a thread, `initial_fn` is
    /// dropped (for a connection: closed) instead of panicking the caller.
    fn add_thread(&self, state: &mut State, initial_fn: Option<Box<dyn FnMut() + Send>>) {
        let sharing = self.sharing.clone();

        state.threads += 1;
        let spawned = thread::Builder::new()
            .name(self.sharing.name.into())
            .spawn(move || {
                let sharing = sharing;
                let _active_guard = Registration(&sharing);

                if let Some(mut f) = initial_fn {
                    f();
                }

                while let Some(mut task) = sharing.next_task() {
                    task();
                }
            });
        if let Err(e) = spawned {
            state.threads -= 1;
            log::error!("cannot start a thread for a connection: {}", e);
        }
    }
}

impl Sharing {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Tasks run outside the lock; the counters stay consistent even if a thread panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a task; `None` when this thread should exit.
    fn next_task(&self) -> Option<Box<dyn FnMut() + Send>> {
        let mut state = self.lock();
        state.idle += 1;
        loop {
            if let Some(task) = state.todo.pop_front() {
                // `idle` was decremented by `spawn` when it queued this task.
                return Some(task);
            }
            if state.closing {
                state.idle -= 1;
                return None;
            }
            if state.threads <= MIN_THREADS {
                state = self.condvar.wait(state).unwrap_or_else(|e| e.into_inner());
            } else {
                let (new_state, waitres) = self
                    .condvar
                    .wait_timeout(state, IDLE_EXIT)
                    .unwrap_or_else(|e| e.into_inner());
                state = new_state;
                // Only an unclaimed thread may leave: with a task queued, `idle` counts it out.
                if waitres.timed_out() && state.todo.is_empty() && state.threads > MIN_THREADS {
                    state.idle -= 1;
                    return None;
                }
            }
        }
    }
}

/// Counts a worker out when it ends, even by a panic.
struct Registration<'a>(&'a Sharing);

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.0.lock().threads -= 1;
    }
}

impl Drop for TaskPool {
    fn drop(&mut self) {
        self.sharing.lock().closing = true;
        self.sharing.condvar.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::TaskPool;
    use std::sync::mpsc::channel;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    /// The race upstream lost: tasks that block (as a kept-alive connection does) arriving in
    /// a burst must each get a thread at once, however many threads are waiting or waking.
    #[test]
    fn a_burst_of_blocking_tasks_all_run_at_once() {
        let pool = TaskPool::new();
        for round in 0..20 {
            let n = 4 + round % 13;
            let all_started = Arc::new(Barrier::new(n + 1));
            let (release_tx, release_rx) = channel::<()>();
            let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
            let (done_tx, done_rx) = channel();
            for _ in 0..n {
                let (all_started, release_rx, done_tx) =
                    (all_started.clone(), release_rx.clone(), done_tx.clone());
                pool.spawn(Box::new(move || {
                    all_started.wait();
                    // Hold the thread until the test lets go, like a connection.
                    let _ = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(1));
                    done_tx.send(()).unwrap();
                }));
            }
            // Every task is running at the same time, or this barrier never opens.
            let (tx, rx) = channel();
            let waiter = all_started.clone();
            std::thread::spawn(move || {
                waiter.wait();
                tx.send(()).unwrap();
            });
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a task was left queued behind busy threads");
            drop(release_tx);
            for _ in 0..n {
                done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            }
        }
    }

    #[test]
    fn a_waiting_thread_is_reused() {
        let pool = TaskPool::new();
        let (tx, rx) = channel();
        for i in 0..100 {
            let tx = tx.clone();
            pool.spawn(Box::new(move || tx.send(i).unwrap()));
        }
        let mut got: Vec<i32> = (0..100).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        // Once every thread waits, a new task takes one of them.
        let all_waiting = || {
            let state = pool.sharing.lock();
            (state.idle == state.threads).then_some(state.threads)
        };
        let threads = loop {
            if let Some(n) = all_waiting() {
                break n;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        pool.spawn(Box::new(move || tx.send(100).unwrap()));
        assert_eq!(rx.recv().unwrap(), 100);
        assert!(pool.sharing.lock().threads <= threads);
    }

    /// Patched (PATCHES.md 15).
    #[test]
    fn a_named_pool_names_its_threads() {
        let pool = TaskPool::named("request");
        let (tx, rx) = channel();
        pool.spawn(Box::new(move || {
            tx.send(std::thread::current().name().map(str::to_owned))
                .unwrap()
        }));
        assert_eq!(rx.recv().unwrap().as_deref(), Some("request"));
    }
}
