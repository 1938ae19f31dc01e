//! Single-producer single-consumer queues in shared memory, with
//! notification suppression (the sDDF idea).
//!
//! Layout of the region (both ends agree on the region and the slot size;
//! nothing about the shape is read from shared memory):
//!
//! | offset | field | written by |
//! |---|---|---|
//! | 0   | tail: messages produced (u32, wrapping) | producer |
//! | 64  | head: messages consumed (u32, wrapping) | consumer |
//! | 128 | consumer wants a notification (u32 flag) | both |
//! | 192 | producer wants a notification (u32 flag) | both |
//! | 256 | `capacity` slots of `slot_size` bytes: u32 length, then data | producer |
//!
//! `capacity` is the largest power of two that fits. Each end keeps its own
//! index privately and only *reads* the other's, checking that the distance
//! is at most `capacity`; a slot length is checked against the slot size.
//! A violation is [`PeerMisbehaviour`], reported and not acted on.
//!
//! Notification suppression: a consumer that finds the queue empty calls
//! [`Consumer::request_signal`] and waits for a notification; the producer
//! notifies (in [`Producer::signal_if_requested`]) only when that flag is set,
//! so a busy stream costs no system calls.

use core::fmt;
use core::sync::atomic::{fence, AtomicU32, Ordering::*};

use microkit::{AccessError, Channel, MemoryRegion};

use crate::PeerMisbehaviour;

const TAIL: usize = 0;
const HEAD: usize = 64;
const CONSUMER_FLAG: usize = 128;
const PRODUCER_FLAG: usize = 192;
const SLOTS: usize = 256;
const LEN: usize = 4;

/// A queue operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// No free slot (producer): wait for the consumer.
    Full,
    /// The message is larger than a slot's payload.
    TooLarge {
        /// Message length.
        len: usize,
        /// Largest payload.
        max: usize,
    },
    /// The caller's buffer is smaller than the next message (nothing was
    /// consumed).
    BufferTooSmall {
        /// Length of the next message.
        needed: usize,
    },
    /// The region is too small for one slot, or the slot size is not a
    /// multiple of 8 larger than 4.
    BadShape,
    /// The region cannot be accessed as needed (e.g. mapped read-only).
    Region(AccessError),
    /// The other end broke the protocol.
    Peer(PeerMisbehaviour),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("queue full"),
            Self::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds slot payload {max}")
            }
            Self::BufferTooSmall { needed } => {
                write!(f, "buffer too small for a {needed}-byte message")
            }
            Self::BadShape => f.write_str("region too small or bad slot size"),
            Self::Region(e) => write!(f, "queue region: {e}"),
            Self::Peer(e) => e.fmt(f),
        }
    }
}

impl From<AccessError> for QueueError {
    fn from(e: AccessError) -> Self {
        Self::Region(e)
    }
}

struct Shape {
    region: MemoryRegion,
    slot_size: usize,
    capacity: u32,
    tail: &'static AtomicU32,
    head: &'static AtomicU32,
    consumer_flag: &'static AtomicU32,
    producer_flag: &'static AtomicU32,
}

impl Shape {
    fn new(region: MemoryRegion, slot_size: usize) -> Result<Self, QueueError> {
        if slot_size <= LEN || !slot_size.is_multiple_of(8) || region.size() < SLOTS + slot_size {
            return Err(QueueError::BadShape);
        }
        let fit = (region.size() - SLOTS) / slot_size;
        let capacity = 1u32 << (usize::BITS - 1 - fit.leading_zeros()).min(31);
        Ok(Self {
            region,
            slot_size,
            capacity,
            tail: region.atomic_u32(TAIL)?,
            head: region.atomic_u32(HEAD)?,
            consumer_flag: region.atomic_u32(CONSUMER_FLAG)?,
            producer_flag: region.atomic_u32(PRODUCER_FLAG)?,
        })
    }

    fn slot(&self, index: u32) -> usize {
        SLOTS + (index & (self.capacity - 1)) as usize * self.slot_size
    }

    /// Distance from `from` to `to`, checked against the capacity.
    fn distance(&self, from: u32, to: u32) -> Result<u32, QueueError> {
        let d = to.wrapping_sub(from);
        if d > self.capacity {
            Err(QueueError::Peer(PeerMisbehaviour::BadIndex { index: to }))
        } else {
            Ok(d)
        }
    }
}

/// The producing end.
pub struct Producer {
    shape: Shape,
    channel: Channel,
    tail: u32,
}

impl Producer {
    /// A producer over `region` with `slot_size`-byte slots, notifying the
    /// consumer over `channel`. Starts from the tail found in the region (so
    /// a restarted producer continues), checked against the head.
    pub fn new(
        region: MemoryRegion,
        slot_size: usize,
        channel: Channel,
    ) -> Result<Self, QueueError> {
        let shape = Shape::new(region, slot_size)?;
        let tail = shape.tail.load(Acquire);
        shape.distance(shape.head.load(Acquire), tail)?;
        Ok(Self {
            shape,
            channel,
            tail,
        })
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.shape.capacity
    }

    /// Largest message.
    pub fn max_message(&self) -> usize {
        self.shape.slot_size - LEN
    }

    /// Appends `data`. [`QueueError::Full`] if there is no room.
    pub fn push(&mut self, data: &[u8]) -> Result<(), QueueError> {
        if data.len() > self.max_message() {
            return Err(QueueError::TooLarge {
                len: data.len(),
                max: self.max_message(),
            });
        }
        let head = self.shape.head.load(Acquire);
        // The consumer's head must be behind our tail by at most capacity.
        let used = self
            .shape
            .distance(head, self.tail)
            .map_err(|_| QueueError::Peer(PeerMisbehaviour::BadIndex { index: head }))?;
        if used == self.shape.capacity {
            return Err(QueueError::Full);
        }
        let at = self.shape.slot(self.tail);
        self.shape
            .region
            .write(at, &(data.len() as u32).to_le_bytes())?;
        self.shape.region.write(at + LEN, data)?;
        self.tail = self.tail.wrapping_add(1);
        self.shape.tail.store(self.tail, Release);
        Ok(())
    }

    /// Notifies the consumer if it asked to be (and clears its request).
    /// Call after a batch of pushes. Returns whether it notified.
    pub fn signal_if_requested(&self) -> bool {
        fence(SeqCst);
        if self.shape.consumer_flag.load(SeqCst) != 0 {
            self.shape.consumer_flag.store(0, SeqCst);
            self.channel.notify();
            true
        } else {
            false
        }
    }

    /// Asks the consumer to notify when it frees a slot. Returns `true` if
    /// a slot is free already (then nothing is requested: push again).
    pub fn request_signal(&self) -> Result<bool, QueueError> {
        self.shape.producer_flag.store(1, SeqCst);
        let head = self.shape.head.load(SeqCst);
        let used = self
            .shape
            .distance(head, self.tail)
            .map_err(|_| QueueError::Peer(PeerMisbehaviour::BadIndex { index: head }))?;
        if used < self.shape.capacity {
            self.shape.producer_flag.store(0, SeqCst);
            return Ok(true);
        }
        Ok(false)
    }
}

/// The consuming end.
pub struct Consumer {
    shape: Shape,
    channel: Channel,
    head: u32,
}

impl Consumer {
    /// A consumer over `region` with `slot_size`-byte slots, notifying the
    /// producer over `channel` when it asked for room. Starts from the head
    /// found in the region.
    pub fn new(
        region: MemoryRegion,
        slot_size: usize,
        channel: Channel,
    ) -> Result<Self, QueueError> {
        let shape = Shape::new(region, slot_size)?;
        let head = shape.head.load(Acquire);
        Ok(Self {
            shape,
            channel,
            head,
        })
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.shape.capacity
    }

    fn available(&self) -> Result<u32, QueueError> {
        let tail = self.shape.tail.load(Acquire);
        self.shape.distance(self.head, tail)
    }

    /// Copies the next message into `buf` and returns its length, or `None`
    /// if the queue is empty.
    pub fn pop(&mut self, buf: &mut [u8]) -> Result<Option<usize>, QueueError> {
        if self.available()? == 0 {
            return Ok(None);
        }
        let at = self.shape.slot(self.head);
        let mut len = [0u8; LEN];
        self.shape.region.read(at, &mut len)?;
        let len = u32::from_le_bytes(len);
        let max = self.shape.slot_size - LEN;
        let n = len as usize;
        if n > max {
            return Err(QueueError::Peer(PeerMisbehaviour::BadLength {
                len: len.into(),
            }));
        }
        if n > buf.len() {
            return Err(QueueError::BufferTooSmall { needed: n });
        }
        self.shape.region.read(at + LEN, &mut buf[..n])?;
        self.head = self.head.wrapping_add(1);
        self.shape.head.store(self.head, Release);
        Ok(Some(n))
    }

    /// Asks the producer to notify when it adds a message. Returns `true` if
    /// the queue is not empty any more (then nothing is requested: pop
    /// again). Call when [`Consumer::pop`] returned `None`, before waiting.
    pub fn request_signal(&self) -> Result<bool, QueueError> {
        self.shape.consumer_flag.store(1, SeqCst);
        if self.available()? != 0 {
            self.shape.consumer_flag.store(0, SeqCst);
            return Ok(true);
        }
        Ok(false)
    }

    /// Notifies the producer if it waits for room (and clears its request).
    /// Returns whether it notified.
    pub fn signal_if_requested(&self) -> bool {
        fence(SeqCst);
        if self.shape.producer_flag.load(SeqCst) != 0 {
            self.shape.producer_flag.store(0, SeqCst);
            self.channel.notify();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(size: usize, slot: usize) -> (MemoryRegion, Producer, Consumer) {
        let r = MemoryRegion::host_anonymous(size);
        let p = Producer::new(r, slot, Channel::new(0)).unwrap();
        let c = Consumer::new(r, slot, Channel::new(1)).unwrap();
        (r, p, c)
    }

    #[test]
    fn fifo_order_wraparound_and_full() {
        let (_, mut p, mut c) = pair(256 + 4 * 64 + 10, 64);
        assert_eq!(p.capacity(), 4);
        let mut buf = [0u8; 60];
        for round in 0u32..10 {
            for i in 0..4u32 {
                p.push(&(round * 4 + i).to_le_bytes()).unwrap();
            }
            assert_eq!(p.push(b"x"), Err(QueueError::Full));
            for i in 0..4u32 {
                assert_eq!(c.pop(&mut buf).unwrap(), Some(4));
                assert_eq!(
                    u32::from_le_bytes(buf[..4].try_into().unwrap()),
                    round * 4 + i
                );
            }
            assert_eq!(c.pop(&mut buf).unwrap(), None);
        }
        assert_eq!(
            p.push(&[0; 61]),
            Err(QueueError::TooLarge { len: 61, max: 60 })
        );
        p.push(&[7; 60]).unwrap();
        assert_eq!(
            c.pop(&mut [0u8; 10]),
            Err(QueueError::BufferTooSmall { needed: 60 })
        );
        assert_eq!(c.pop(&mut buf).unwrap(), Some(60));
    }

    #[test]
    fn garbage_indices_and_lengths_are_peer_misbehaviour() {
        let (r, mut p, mut c) = pair(4096, 64);
        let mut buf = [0u8; 64];
        // Producer claims far more messages than fit.
        r.atomic_u32(TAIL).unwrap().store(0xdead_beef, SeqCst);
        assert_eq!(
            c.pop(&mut buf),
            Err(QueueError::Peer(PeerMisbehaviour::BadIndex {
                index: 0xdead_beef
            }))
        );
        assert!(matches!(c.request_signal(), Err(QueueError::Peer(_))));
        // A sane tail but an oversized slot length.
        r.atomic_u32(TAIL).unwrap().store(1, SeqCst);
        r.write(SLOTS, &u32::MAX.to_le_bytes()).unwrap();
        assert_eq!(
            c.pop(&mut buf),
            Err(QueueError::Peer(PeerMisbehaviour::BadLength {
                len: u32::MAX as u64
            }))
        );
        // Consumer claims to have consumed messages never produced.
        r.atomic_u32(HEAD).unwrap().store(12345, SeqCst);
        assert_eq!(
            p.push(b"a"),
            Err(QueueError::Peer(PeerMisbehaviour::BadIndex {
                index: 12345
            }))
        );
        assert!(Producer::new(r, 64, Channel::new(0)).is_err());
    }

    #[test]
    fn signal_requests_are_suppressed_and_rechecked() {
        let (r, mut p, mut c) = pair(4096, 64);
        let mut buf = [0u8; 64];
        assert_eq!(c.pop(&mut buf).unwrap(), None);
        p.push(b"early").unwrap();
        // Data arrived before the request: the consumer is told to pop again.
        assert!(c.request_signal().unwrap());
        assert_eq!(r.load_u32(CONSUMER_FLAG).unwrap(), 0);
        // No request pending: the producer does not notify (the channel is
        // not valid in this process, so a notify would panic).
        assert!(!p.signal_if_requested());
        assert_eq!(c.pop(&mut buf).unwrap(), Some(5));
        assert!(!c.request_signal().unwrap());
        assert_eq!(r.load_u32(CONSUMER_FLAG).unwrap(), 1);
    }

    #[test]
    fn bad_shapes_are_rejected() {
        let r = MemoryRegion::host_anonymous(300);
        assert!(matches!(
            Producer::new(r, 64, Channel::new(0)),
            Err(QueueError::BadShape)
        ));
        assert!(matches!(
            Producer::new(r, 12, Channel::new(0)),
            Err(QueueError::BadShape)
        ));
        assert!(matches!(
            Producer::new(r, 4, Channel::new(0)),
            Err(QueueError::BadShape)
        ));
    }
}
