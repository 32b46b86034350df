//! A terminal's recent output: a ring of bytes addressed by their offset in everything the
//! terminal ever printed, so a client that reattaches says where it was and gets exactly what
//! followed (or, when that has been dropped, what is still kept, from a later offset).

use std::collections::VecDeque;

/// The last `capacity` bytes of a stream and their offsets.
#[derive(Debug)]
pub struct Ring {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// The offset of the first byte kept.
    start: u64,
}

impl Ring {
    /// An empty ring keeping at most `capacity` bytes (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { bytes: VecDeque::with_capacity(capacity.min(64 * 1024)), capacity, start: 0 }
    }

    /// The offset the next byte gets (= everything ever pushed).
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// The offset of the oldest byte still kept.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Appends `data`, dropping the oldest bytes beyond the capacity.
    pub fn push(&mut self, data: &[u8]) {
        let data = if data.len() > self.capacity {
            // Only the tail can stay; the rest is pushed and dropped at once.
            self.start += (self.bytes.len() + data.len() - self.capacity) as u64;
            self.bytes.clear();
            &data[data.len() - self.capacity..]
        } else {
            let over = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
            self.bytes.drain(..over);
            self.start += over as u64;
            data
        };
        self.bytes.extend(data);
    }

    /// Up to `max` bytes from `offset` on, with the offset of the first one: `offset` itself,
    /// or the oldest offset still kept when `offset` has been dropped already. Empty when
    /// there is nothing after `offset` (or `offset` lies beyond the end).
    pub fn read_from(&self, offset: u64, max: usize) -> (u64, Vec<u8>) {
        let from = offset.max(self.start);
        if from >= self.end() {
            return (from.min(self.end()), Vec::new());
        }
        let skip = (from - self.start) as usize;
        let take = (self.bytes.len() - skip).min(max);
        let (front, back) = self.bytes.as_slices();
        let mut out = Vec::with_capacity(take);
        if skip < front.len() {
            out.extend_from_slice(&front[skip..front.len().min(skip + take)]);
        }
        let rest = take - out.len();
        let back_skip = skip.saturating_sub(front.len());
        out.extend_from_slice(&back[back_skip..back_skip + rest]);
        (from, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_with_their_offsets() {
        let mut ring = Ring::new(8);
        ring.push(b"hello ");
        assert_eq!((ring.start(), ring.end()), (0, 6));
        assert_eq!(ring.read_from(0, 100), (0, b"hello ".to_vec()));
        ring.push(b"world");
        assert_eq!((ring.start(), ring.end()), (3, 11));
        assert_eq!(ring.read_from(0, 100), (3, b"lo world".to_vec()), "dropped bytes are skipped");
        assert_eq!(ring.read_from(6, 3), (6, b"wor".to_vec()));
        assert_eq!(ring.read_from(11, 3), (11, Vec::new()));
        assert_eq!(ring.read_from(50, 3), (11, Vec::new()));
    }

    #[test]
    fn a_push_larger_than_the_ring_keeps_its_tail() {
        let mut ring = Ring::new(4);
        ring.push(b"ab");
        ring.push(b"0123456789");
        assert_eq!((ring.start(), ring.end()), (8, 12));
        assert_eq!(ring.read_from(0, 100), (8, b"6789".to_vec()));
    }

    #[test]
    fn reading_on_from_where_the_last_read_ended_loses_and_repeats_nothing() {
        let mut ring = Ring::new(100);
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let mut at = 0;
        for i in 0..200u32 {
            let chunk = format!("line {i}\n");
            expected.extend_from_slice(chunk.as_bytes());
            ring.push(chunk.as_bytes());
            // A reader a little behind, never by more than the ring holds.
            if i % 7 == 0 {
                let (from, bytes) = ring.read_from(at, 64);
                assert_eq!(from, at);
                at += bytes.len() as u64;
                got.extend(bytes);
            }
        }
        loop {
            let (_, bytes) = ring.read_from(at, 64);
            if bytes.is_empty() {
                break;
            }
            at += bytes.len() as u64;
            got.extend(bytes);
        }
        assert!(ring.start() > 0, "the ring dropped its oldest bytes meanwhile");
        assert_eq!(got, expected);
    }
}
