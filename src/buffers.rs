//! Large byte buffers kept from one request for the next. After an hour of work Claude Code
//! sends megabytes of history on every turn; a fresh buffer that size is new memory from the
//! system each time (mapped, faulted in and zeroed page by page, unmapped again), which was a
//! fifth of the proxy's CPU on such a request. A few are kept and reused instead: the request
//! body and the upstream body of the next long turn land in memory that is already there.
//! Bounded: at most [`KEEP`] buffers of at most [`LARGEST`] bytes each, [`MOST`] bytes in all.
//! No I/O.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

/// Buffers kept at most.
pub const KEEP: usize = 4;
/// Smaller buffers come and go through the allocator's own free lists, which is cheap.
pub const SMALLEST: usize = 256 << 10;
/// Larger buffers go back to the system: a rare huge request does not stay resident.
pub const LARGEST: usize = 8 << 20;
/// Bytes kept in all (a 2 MiB history keeps about 4.5 MiB: its request and upstream bodies).
pub const MOST: usize = 16 << 20;

/// The kept buffers, shared by the request threads.
#[derive(Default)]
pub struct Buffers {
    kept: Mutex<Vec<Vec<u8>>>,
}

impl Buffers {
    /// An empty buffer with room for at least `capacity` bytes, kept again when dropped.
    pub fn take(&self, capacity: usize) -> Buffer<'_> {
        let mut buf = if capacity < SMALLEST {
            Vec::new()
        } else {
            let mut kept = self.kept();
            // The smallest that is large enough, else the largest (it grows in place if it can).
            let fits = (0..kept.len())
                .filter(|&i| kept[i].capacity() >= capacity)
                .min_by_key(|&i| kept[i].capacity());
            let pick = fits.or_else(|| (0..kept.len()).max_by_key(|&i| kept[i].capacity()));
            pick.map(|i| kept.swap_remove(i)).unwrap_or_default()
        };
        buf.reserve(capacity);
        Buffer { buf, home: self }
    }

    /// Keeps `buf` (emptied) if its size is worth keeping and it fits, in place of the smallest
    /// kept one when that makes room for it.
    fn give(&self, mut buf: Vec<u8>) {
        if !(SMALLEST..=LARGEST).contains(&buf.capacity()) {
            return;
        }
        buf.clear();
        let mut kept = self.kept();
        let total: usize = kept.iter().map(Vec::capacity).sum();
        if kept.len() < KEEP && total + buf.capacity() <= MOST {
            kept.push(buf);
        } else if let Some(i) = (0..kept.len()).min_by_key(|&i| kept[i].capacity())
            && kept[i].capacity() < buf.capacity()
            && total - kept[i].capacity() + buf.capacity() <= MOST
        {
            kept[i] = buf;
        }
    }

    /// Bytes held by kept buffers.
    pub fn kept_bytes(&self) -> usize {
        self.kept().iter().map(Vec::capacity).sum()
    }

    fn kept(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic elsewhere cannot leave a list of buffers inconsistent.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A buffer on loan from [`Buffers`]; it goes back when dropped.
pub struct Buffer<'a> {
    buf: Vec<u8>,
    home: &'a Buffers,
}

impl Deref for Buffer<'_> {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for Buffer<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Drop for Buffer<'_> {
    fn drop(&mut self) {
        self.home.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_buffer_is_reused_by_the_next_request() {
        let pool = Buffers::default();
        let first = {
            let mut b = pool.take(2 << 20);
            b.extend_from_slice(b"history");
            b.as_ptr()
        };
        assert_eq!(pool.kept_bytes(), 2 << 20);
        let b = pool.take(1 << 20);
        assert_eq!(b.as_ptr(), first, "the kept buffer is lent again");
        assert!(b.is_empty() && b.capacity() >= 2 << 20);
        assert_eq!(pool.kept_bytes(), 0, "lent out, not kept twice");
    }

    #[test]
    fn small_and_huge_buffers_are_not_kept() {
        let pool = Buffers::default();
        drop(pool.take(1000));
        drop(pool.take(LARGEST + 1));
        assert_eq!(pool.kept_bytes(), 0);
        // A small loan that grew past SMALLEST is worth keeping.
        let mut b = pool.take(10);
        b.resize(SMALLEST, 0);
        drop(b);
        assert!(pool.kept_bytes() >= SMALLEST);
    }

    #[test]
    fn at_most_keep_buffers_and_the_largest_stay() {
        let pool = Buffers::default();
        let loans: Vec<_> = (1..=KEEP + 2).map(|i| pool.take(i * SMALLEST)).collect();
        drop(loans);
        let kept = pool.kept();
        assert_eq!(kept.len(), KEEP);
        assert!(
            kept.iter().all(|b| b.capacity() >= 3 * SMALLEST),
            "the two smallest went"
        );
    }

    #[test]
    fn at_most_most_bytes_are_kept() {
        let pool = Buffers::default();
        drop((pool.take(LARGEST), pool.take(LARGEST), pool.take(LARGEST)));
        assert_eq!(pool.kept().len(), MOST / LARGEST);
        assert!(pool.kept_bytes() <= MOST);
        // A smaller one does not push out a larger one, nor fit beside them.
        drop(pool.take(SMALLEST));
        assert!(pool.kept_bytes() <= MOST && pool.kept().len() == MOST / LARGEST);
    }

    #[test]
    fn the_smallest_buffer_that_fits_is_picked() {
        let pool = Buffers::default();
        drop((pool.take(4 << 20), pool.take(1 << 20), pool.take(2 << 20)));
        let b = pool.take(1500 << 10);
        assert!(b.capacity() >= 1500 << 10 && b.capacity() < 4 << 20);
        assert_eq!(pool.kept().len(), 2);
    }
}
