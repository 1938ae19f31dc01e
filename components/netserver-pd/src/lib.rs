//! Pieces of the network server PD that are testable on their own: the
//! host NICs (`VETTED_NIC`), the bounded RPC client used towards the trust
//! PD and the policy repository, and the [`Authority`](netserver::vet::Authority)
//! over them. The binary `netserver` (src/main.rs) wires them to channels.

pub mod nic;
pub mod rpc;
