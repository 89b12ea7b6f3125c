use std::io::Result as IoResult;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::util::read_timer::{timed_out, ReadTimer};

/// One half of a client connection. Patched (see PATCHES.md): both halves share one descriptor
/// (upstream duplicated it with `try_clone`, which cost a second fd per connection and panicked
/// when none was left), and reads are bounded by the connection's [`ReadTimer`].
pub struct RefinedTcpStream {
    stream: Arc<Connection>,
    close_read: bool,
    close_write: bool,
    /// Set on the read half only.
    timer: Option<Arc<ReadTimer>>,
    /// The receive timeout currently set on the socket.
    applied: Option<Duration>,
}

impl RefinedTcpStream {
    /// The read half and the write half of `stream`.
    pub(crate) fn new(
        stream: Arc<Connection>,
        timer: Arc<ReadTimer>,
    ) -> (RefinedTcpStream, RefinedTcpStream) {
        let read = RefinedTcpStream {
            stream: Arc::clone(&stream),
            close_read: true,
            close_write: false,
            timer: Some(timer),
            applied: None,
        };

        let write = RefinedTcpStream {
            stream,
            close_read: false,
            close_write: true,
            timer: None,
            applied: None,
        };

        (read, write)
    }
}

impl Drop for RefinedTcpStream {
    fn drop(&mut self) {
        if self.close_read {
            self.stream.shutdown(Shutdown::Read).ok();
        }

        if self.close_write {
            self.stream.shutdown(Shutdown::Write).ok();
        }
    }
}

impl Read for RefinedTcpStream {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        let timer = match &self.timer {
            Some(timer) => timer,
            None => return (&*self.stream).read(buf),
        };
        let budget = timer.budget(Instant::now())?;
        if budget != self.applied {
            self.stream.set_read_timeout(budget)?;
            self.applied = budget;
        }
        match (&*self.stream).read(buf) {
            Ok(n) => {
                timer.received(n);
                Ok(n)
            }
            // An expired SO_RCVTIMEO reads as EAGAIN.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(timed_out())
            }
            Err(e) => Err(e),
        }
    }
}

impl Write for RefinedTcpStream {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        match (&*self.stream).write(buf) {
            // An expired SO_SNDTIMEO: the client stopped reading.
            Err(e) if e.kind() == ErrorKind::WouldBlock => Err(std::io::Error::new(
                ErrorKind::TimedOut,
                "the client stopped reading",
            )),
            other => other,
        }
    }

    fn flush(&mut self) -> IoResult<()> {
        (&*self.stream).flush()
    }
}
