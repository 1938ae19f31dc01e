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
