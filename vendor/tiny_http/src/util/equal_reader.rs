use std::io::Read;
use std::io::Result as IoResult;
use std::sync::mpsc::Sender;

/// How a request body ended, told to its connection when the body's reader is dropped
/// (patched copy, see PATCHES.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// Read to its end.
    Complete,
    /// This many bytes were left unread.
    Unread(u64),
    /// Where the body ends is unknown (a read failed, or a chunked body was left unfinished).
    Broken,
}

/// A reader that reads exactly `size` bytes from a sub-reader. Patched: dropping it no longer
/// reads the rest (upstream allocated `vec![0; rest]` on the dropping thread, so a huge
/// Content-Length aborted the process); it tells the connection what is left, and the
/// connection decides whether to drain or close.
pub struct EqualReader<R>
where
    R: Read,
{
    reader: R,
    size: usize,
    failed: bool,
    report: Option<Sender<BodyEnd>>,
}

impl<R> EqualReader<R>
where
    R: Read,
{
    pub fn new(reader: R, size: usize, report: Option<Sender<BodyEnd>>) -> EqualReader<R> {
        EqualReader {
            reader,
            size,
            failed: false,
            report,
        }
    }
}

impl<R> Read for EqualReader<R>
where
    R: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        if self.size == 0 {
            return Ok(0);
        }

        let buf = if buf.len() < self.size {
            buf
        } else {
            &mut buf[..self.size]
        };

        match self.reader.read(buf) {
            Ok(len) => {
                self.size -= len;
                Ok(len)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

impl<R> Drop for EqualReader<R>
where
    R: Read,
{
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            let end = match (self.failed, self.size) {
                (true, _) => BodyEnd::Broken,
                (false, 0) => BodyEnd::Complete,
                (false, n) => BodyEnd::Unread(n as u64),
            };
            report.send(end).ok();
        }
    }
}

/// A chunked body: tells the connection whether it was read to its end.
pub struct ChunkedBody<R: Read> {
    reader: R,
    done: bool,
    report: Option<Sender<BodyEnd>>,
}

impl<R: Read> ChunkedBody<R> {
    pub fn new(reader: R, report: Option<Sender<BodyEnd>>) -> ChunkedBody<R> {
        ChunkedBody {
            reader,
            done: false,
            report,
        }
    }
}

impl<R: Read> Read for ChunkedBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        let n = self.reader.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.done = true;
        }
        Ok(n)
    }
}

impl<R: Read> Drop for ChunkedBody<R> {
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            let end = if self.done {
                BodyEnd::Complete
            } else {
                BodyEnd::Broken
            };
            report.send(end).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BodyEnd, EqualReader};
    use std::io::Read;
    use std::sync::mpsc::channel;

    #[test]
    fn test_limit() {
        use std::io::Cursor;

        let mut org_reader = Cursor::new("hello world".to_string().into_bytes());

        {
            let mut equal_reader = EqualReader::new(org_reader.by_ref(), 5, None);

            let mut string = String::new();
            equal_reader.read_to_string(&mut string).unwrap();
            assert_eq!(string, "hello");
        }

        let mut string = String::new();
        org_reader.read_to_string(&mut string).unwrap();
        assert_eq!(string, " world");
    }

    /// Patched: the rest is reported, not read (the connection drains or closes).
    #[test]
    fn dropping_reports_the_unread_rest_without_reading_it() {
        use std::io::Cursor;

        let mut org_reader = Cursor::new("hello world".to_string().into_bytes());
        let (tx, rx) = channel();

        {
            let mut equal_reader = EqualReader::new(org_reader.by_ref(), 5, Some(tx));

            let mut vec = [0];
            equal_reader.read_exact(&mut vec).unwrap();
            assert_eq!(vec[0], b'h');
        }

        assert_eq!(rx.recv().unwrap(), BodyEnd::Unread(4));
        let mut string = String::new();
        org_reader.read_to_string(&mut string).unwrap();
        assert_eq!(string, "ello world");
    }

    /// Patched: a declared length far beyond memory costs nothing when dropped unread.
    #[test]
    fn a_huge_declared_length_is_not_allocated() {
        let (tx, rx) = channel();
        drop(EqualReader::new(std::io::empty(), 30_000_000_000, Some(tx)));
        assert_eq!(rx.recv().unwrap(), BodyEnd::Unread(30_000_000_000));
    }

    #[test]
    fn a_failed_read_makes_the_end_unknown() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::TimedOut.into())
            }
        }
        let (tx, rx) = channel();
        let mut r = EqualReader::new(Failing, 10, Some(tx));
        assert!(r.read(&mut [0; 4]).is_err());
        drop(r);
        assert_eq!(rx.recv().unwrap(), BodyEnd::Broken);
    }
}
