//! Request threads kept for the next request. Each request still gets a thread of its own for as
//! long as it runs (a stream may last minutes), but a thread whose request is done waits a while
//! for the next one instead of exiting: starting and ending a thread (its stack mapped and
//! unmapped, its signal stack, the allocator's locks) was about a fifth of the CPU of a short
//! request. Bounded: at most `max_idle` threads wait, each for at most `linger`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Threads that run `work` on the jobs handed to them.
pub struct Workers<T> {
    shared: Arc<Shared<T>>,
}

type Work<T> = Box<dyn Fn(T) + Send + Sync>;

struct Shared<T> {
    work: Work<T>,
    /// The threads waiting for a job, each by the sending half of its own channel, newest last.
    idle: Mutex<Vec<(u64, Sender<T>)>>,
    next_id: AtomicU64,
    max_idle: usize,
    linger: Duration,
    name: String,
    stack_size: usize,
}

impl<T: Send + 'static> Workers<T> {
    /// Threads named `name` with `stack_size`-byte stacks; at most `max_idle` wait for a job,
    /// each for at most `linger`.
    pub fn new(
        name: &str,
        stack_size: usize,
        max_idle: usize,
        linger: Duration,
        work: impl Fn(T) + Send + Sync + 'static,
    ) -> Self {
        Workers {
            shared: Arc::new(Shared {
                work: Box::new(work),
                idle: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(0),
                max_idle,
                linger,
                name: name.to_owned(),
                stack_size,
            }),
        }
    }

    /// Runs `job` on the thread that waited least long, or on a new thread. Fails only when no
    /// thread could be started, and gives the job back then.
    pub fn run(&self, mut job: T) -> Result<(), (T, io::Error)> {
        loop {
            let Some((_, waiting)) = self.shared.idle().pop() else {
                break;
            };
            match waiting.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(back)) => job = back, // that thread just left
            }
        }
        let shared = Arc::clone(&self.shared);
        let (start, first) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(self.shared.name.clone())
            .stack_size(self.shared.stack_size)
            .spawn(move || {
                if let Ok(job) = first.recv() {
                    serve(&shared, job);
                }
            });
        match spawned {
            Ok(_) => start
                .send(job)
                .map_err(|e| (e.0, io::Error::other("worker exited"))),
            Err(e) => Err((job, e)),
        }
    }

    /// Threads waiting for a job now.
    pub fn idle(&self) -> usize {
        self.shared.idle().len()
    }
}

impl<T> Drop for Workers<T> {
    /// The waiting threads leave (the busy ones finish their job first).
    fn drop(&mut self) {
        self.shared.idle().clear();
    }
}

impl<T> Shared<T> {
    fn idle(&self) -> MutexGuard<'_, Vec<(u64, Sender<T>)>> {
        // A panic elsewhere cannot leave a list of channels inconsistent.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A thread's life: the job it was started for, then each job it is handed while it waits.
fn serve<T>(shared: &Shared<T>, mut job: T) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    loop {
        (shared.work)(job);
        let (waiting, next) = mpsc::channel();
        {
            let mut idle = shared.idle();
            if idle.len() >= shared.max_idle {
                return;
            }
            idle.push((id, waiting));
        }
        job = match next.recv_timeout(shared.linger) {
            Ok(job) => job,
            Err(RecvTimeoutError::Disconnected) => return, // the pool is gone
            Err(RecvTimeoutError::Timeout) => {
                let mut idle = shared.idle();
                if let Some(i) = idle.iter().position(|(k, _)| *k == id) {
                    idle.swap_remove(i);
                    return;
                }
                drop(idle);
                // Taken off the list just now: the job is on its way (or the pool is gone).
                match next.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::thread::ThreadId;
    use std::time::Instant;

    type Done = mpsc::Sender<ThreadId>;

    fn pool(max_idle: usize, linger: Duration) -> Workers<(Done, Option<Arc<Barrier>>)> {
        Workers::new(
            "test-worker",
            64 << 10,
            max_idle,
            linger,
            |(done, barrier): (Done, Option<Arc<Barrier>>)| {
                if let Some(b) = barrier {
                    b.wait();
                }
                let _ = done.send(std::thread::current().id());
            },
        )
    }

    /// Waits (up to 10 s, never a pass/fail threshold) until `f` holds.
    fn eventually(f: impl Fn() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while !f() {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    #[test]
    fn a_finished_thread_runs_the_next_job() {
        let workers = pool(4, Duration::from_secs(60));
        let (done, ids) = mpsc::channel();
        workers.run((done.clone(), None)).unwrap();
        let first = ids.recv().unwrap();
        assert!(eventually(|| workers.idle() == 1));
        workers.run((done, None)).unwrap();
        assert_eq!(ids.recv().unwrap(), first);
    }

    #[test]
    fn jobs_at_once_each_get_a_thread() {
        let workers = pool(4, Duration::from_secs(60));
        let (done, ids) = mpsc::channel();
        // Three jobs that can only finish together: each must have its own thread.
        let barrier = Arc::new(Barrier::new(3));
        for _ in 0..3 {
            workers
                .run((done.clone(), Some(Arc::clone(&barrier))))
                .unwrap();
        }
        let mut threads: Vec<_> = (0..3).map(|_| ids.recv().unwrap()).collect();
        threads.sort_by_key(|t| format!("{t:?}"));
        threads.dedup();
        assert_eq!(threads.len(), 3);
        assert!(eventually(|| workers.idle() == 3));
    }

    #[test]
    fn waiting_is_bounded_in_number_and_time() {
        let workers = pool(2, Duration::from_secs(60));
        let (done, ids) = mpsc::channel();
        let barrier = Arc::new(Barrier::new(4));
        for _ in 0..4 {
            workers
                .run((done.clone(), Some(Arc::clone(&barrier))))
                .unwrap();
        }
        for _ in 0..4 {
            ids.recv().unwrap();
        }
        assert!(eventually(|| workers.idle() == 2));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(workers.idle(), 2, "the other two left");

        let lingering = pool(4, Duration::from_millis(20));
        lingering.run((done, None)).unwrap();
        ids.recv().unwrap();
        assert!(
            eventually(|| lingering.idle() == 0),
            "left after its linger"
        );
    }

    #[test]
    fn dropping_the_pool_lets_waiting_threads_go() {
        let workers = pool(4, Duration::from_secs(600));
        let (done, ids) = mpsc::channel();
        workers.run((done, None)).unwrap();
        ids.recv().unwrap();
        assert!(eventually(|| workers.idle() == 1));
        let shared = Arc::downgrade(&workers.shared);
        drop(workers);
        assert!(
            eventually(|| shared.strong_count() == 0),
            "the thread ended"
        );
    }
}
