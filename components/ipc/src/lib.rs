//! IPC between vetted protection domains, on top of the `microkit` crate.
//!
//! - [`rpc`]: typed requests and responses, postcard-encoded in a shared
//!   buffer per channel, carried by a protected call (the idea of rust-sel4's
//!   `simple-ipc`): reply label 0 means ok, other labels are typed
//!   transport errors ([`rpc::ServerError`]).
//! - [`queue`]: single-producer single-consumer queues in shared memory with
//!   notification suppression (the sDDF idea): the producer notifies only
//!   when the consumer asked for it.
//!
//! The peer is untrusted. Every index and length read from shared memory or
//! a message register is checked; a bad one is a
//! [`PeerMisbehaviour`] error, never a panic or an out-of-bounds access.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod queue;
pub mod rpc;

use core::fmt;

/// The other PD broke the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMisbehaviour {
    /// A queue index is further from ours than the queue holds.
    BadIndex {
        /// The index read from shared memory.
        index: u32,
    },
    /// A length is larger than its buffer or slot.
    BadLength {
        /// The length read.
        len: u64,
    },
    /// A reply carried a label this protocol does not define.
    BadLabel {
        /// The label.
        label: u64,
    },
    /// A message had too few message registers.
    BadCount {
        /// Registers received.
        count: usize,
    },
    /// The bytes do not decode as the expected type.
    Decode,
}

impl fmt::Display for PeerMisbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadIndex { index } => {
                write!(f, "peer misbehaviour: queue index {index} out of range")
            }
            Self::BadLength { len } => write!(f, "peer misbehaviour: length {len} out of range"),
            Self::BadLabel { label } => write!(f, "peer misbehaviour: unknown reply label {label}"),
            Self::BadCount { count } => write!(f, "peer misbehaviour: {count} message registers"),
            Self::Decode => f.write_str("peer misbehaviour: message does not decode"),
        }
    }
}

#[cfg(test)]
mod garbage_tests {
    //! Whatever a peer writes into shared memory or the message registers,
    //! the receiving side returns a value or a typed error: it never panics
    //! and never reads or writes outside its region (the region API checks
    //! every access, so an out-of-bounds attempt would be an `Err`, and any
    //! panic fails the test).
    use microkit::{Channel, MemoryRegion, MessageInfo};

    use crate::queue::{Consumer, Producer, QueueError};
    use crate::rpc::Server;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_queue_contents_never_panic() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let region = MemoryRegion::host_anonymous(256 + 8 * 64);
        let mut buf = [0u8; 64];
        for _ in 0..20_000 {
            // Random header words and slot bytes, biased towards small values.
            for off in [0usize, 64, 128, 192] {
                let v = match rng.next() % 4 {
                    0 => rng.next() as u32,
                    _ => (rng.next() % 16) as u32,
                };
                region
                    .atomic_u32(off)
                    .unwrap()
                    .store(v, core::sync::atomic::Ordering::SeqCst);
            }
            let slot = 256 + (rng.next() % 8) as usize * 64;
            let len = match rng.next() % 3 {
                0 => rng.next() as u32,
                _ => (rng.next() % 70) as u32,
            };
            region.write(slot, &len.to_le_bytes()).unwrap();
            if let Ok(mut c) = Consumer::new(region, 64, Channel::new(0)) {
                for _ in 0..4 {
                    match c.pop(&mut buf) {
                        Ok(Some(n)) => assert!(n <= 60),
                        Ok(None)
                        | Err(QueueError::Peer(_))
                        | Err(QueueError::BufferTooSmall { .. }) => {}
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                let _ = c.request_signal();
            }
            if let Ok(mut p) = Producer::new(region, 64, Channel::new(0)) {
                match p.push(b"data") {
                    Ok(()) | Err(QueueError::Full) | Err(QueueError::Peer(_)) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }
    }

    #[derive(serde::Deserialize, serde::Serialize)]
    enum Req {
        A(u8),
        B { x: u64, s: [u8; 4] },
        C(Option<u32>, bool),
    }

    #[test]
    fn random_requests_never_panic_the_server() {
        let mut rng = Rng(0xfeed_beef_0bad_cafe);
        let region = MemoryRegion::host_anonymous(128);
        let server = Server::<128>::new(region);
        for _ in 0..20_000 {
            let n = (rng.next() % 130) as usize;
            let bytes: std::vec::Vec<u8> = (0..n.min(128)).map(|_| rng.next() as u8).collect();
            region.write(0, &bytes).unwrap();
            let len = match rng.next() % 4 {
                0 => rng.next(),
                _ => n as u64,
            };
            microkit::set_mr(0, len);
            let count = (rng.next() % 3) as usize;
            let label = if rng.next().is_multiple_of(8) {
                rng.next()
            } else {
                0
            };
            let reply = server.handle(MessageInfo::new(label, count), |r: Req| match r {
                Req::A(v) => u64::from(v),
                Req::B { x, s } => x ^ u64::from(s[0]),
                Req::C(o, b) => u64::from(o.unwrap_or(0)) + u64::from(b),
            });
            assert!(reply.label() <= 5, "unknown label {}", reply.label());
        }
    }
}
