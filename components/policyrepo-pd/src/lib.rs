//! The policy repository PD (binary `policyrepo`), thin: it reads the
//! `admin_pubkey` (hex text) and `policy_bundle` memory regions, verifies
//! the bundle with [`policyrepo::Repo::new`] and serves requests by channel
//! (docs/connection-path.md):
//!
//! | channel | caller | buffer |
//! |---|---|---|
//! | 0 | [`Caller::Trust`] | `buf_0` |
//! | 1 | [`Caller::NetServer`] | `buf_1` |
//! | 10..=61 | [`Caller::App`] of the application whose `repo_channel` is that id | `buf_<id>` |
//!
//! Any other channel, or an id no application is bound to, gets
//! [`Error::NotPermitted`]. A bundle that fails verification makes every
//! request fail with [`Error::BadBundle`] (fail closed). Every reply is a
//! postcard `Result<policyrepo_api::Response, policyrepo_api::Error>`
//! through `ipc::rpc`. After an application installed policy, and once at
//! start (a restarted repository has forgotten installed policy), the PD
//! notifies the trust PD on channel 0 so that it fetches the policy again.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ipc::rpc::{Server, ServerError};
use microkit::{debug_println, Channel, Handler, Infallible, MemoryRegion, MessageInfo};
use netserver_api::MAX_MESSAGE;
use policyrepo::{Caller, Repo};
use policyrepo_api::{Error, Request, Response};

/// The trust PD's channel.
pub const TRUST: Channel = Channel::new(0);
/// The network server's channel.
pub const NETSERVER: Channel = Channel::new(1);
/// Applications' channels.
pub const APP_CHANNELS: core::ops::RangeInclusive<usize> = 10..=61;

/// The PD's stack on seL4 (`protection_domain!(.., stack_size)`; the host
/// uses the process's own). See the README, "On seL4".
pub const STACK_SIZE: usize = 0x10_0000;
/// The PD's heap on seL4 (`protection_domain!(.., heap_size)`). See the
/// README, "On seL4".
pub const HEAP_SIZE: usize = 0x80_0000;

/// The PD's state.
pub struct PolicyRepoPd {
    repo: Repo,
    /// The server of each channel id that has a `buf_<id>` region.
    servers: Vec<Option<Server<MAX_MESSAGE>>>,
}

/// Decodes the admin public key region: hex text, then zero padding.
pub fn parse_admin_key(region: &[u8]) -> Option<Vec<u8>> {
    let end = region.iter().position(|b| *b == 0).unwrap_or(region.len());
    let text = core::str::from_utf8(&region[..end]).ok()?.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = Vec::with_capacity(32);
    for pair in text.as_bytes().chunks_exact(2) {
        let s = core::str::from_utf8(pair).ok()?;
        out.push(u8::from_str_radix(s, 16).ok()?);
    }
    Some(out)
}

/// The admin key region: its first 128 bytes are enough (64 hex digits and
/// a line end).
fn read_admin_key() -> Option<Vec<u8>> {
    let r = MemoryRegion::by_name("admin_pubkey").ok()?;
    let mut v = vec![0u8; r.size().min(128)];
    r.read(0, &mut v).ok()?;
    Some(v)
}

/// Length of the signed bundle at the start of `read`'s region: two
/// postcard byte strings (payload, signature), each a LEB128 length and
/// the bytes. `None` if it does not fit in `size` or
/// [`policyrepo::MAX_BUNDLE`].
pub fn signed_len(size: usize, read: impl Fn(usize) -> Option<u8>) -> Option<usize> {
    let limit = size.min(policyrepo::MAX_BUNDLE);
    let mut pos = 0usize;
    for _field in 0..2 {
        let mut len: u64 = 0;
        let mut shift = 0u32;
        loop {
            if pos >= limit || shift > 63 {
                return None;
            }
            let b = read(pos)?;
            pos += 1;
            len |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        pos = pos.checked_add(usize::try_from(len).ok()?)?;
        if pos > limit {
            return None;
        }
    }
    Some(pos)
}

/// Reads the signed bundle from the `policy_bundle` region, touching only
/// its own bytes, not the whole region. (The host runner currently sizes a
/// prefilled region's memfd to the prefill file, so reading the zero
/// padding past it faults; see the crate README.)
fn read_bundle() -> Option<Vec<u8>> {
    let r = MemoryRegion::by_name("policy_bundle").ok()?;
    let byte = |at: usize| {
        let mut b = [0u8; 1];
        r.read(at, &mut b).ok().map(|()| b[0])
    };
    let len = signed_len(r.size(), byte)?;
    let mut v = vec![0u8; len];
    r.read(0, &mut v).ok()?;
    Some(v)
}

impl PolicyRepoPd {
    /// Starts from the PD's regions (see the crate docs).
    pub fn from_regions() -> Self {
        let key = read_admin_key().and_then(|r| parse_admin_key(&r));
        let bundle = read_bundle();
        let repo = match (&key, &bundle) {
            (Some(k), Some(b)) => Repo::new(b, k),
            // Fail closed: a repository that verified nothing.
            _ => Repo::new(&[], &[]),
        };
        match (repo.bundle(), key.is_some(), bundle.is_some()) {
            (Some(b), _, _) => debug_println!(
                "policy bundle version {} for node {} verified: {} assertion(s), {} app(s), {} SA(s)",
                b.version,
                b.node,
                b.policy.len(),
                b.apps.len(),
                b.sas.len()
            ),
            (None, false, _) => {
                debug_println!("admin_pubkey missing or not 32 bytes of hex: serving nothing")
            }
            (None, _, false) => {
                debug_println!("policy_bundle region missing or no bundle in it: serving nothing")
            }
            (None, true, true) => {
                debug_println!("policy bundle verification FAILED: serving nothing")
            }
        }
        let mut servers = Vec::new();
        for id in 0..=*APP_CHANNELS.end() {
            servers.push(
                MemoryRegion::by_name(&format!("buf_{id}"))
                    .ok()
                    .map(Server::new),
            );
        }
        PolicyRepoPd { repo, servers }
    }

    /// The core.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Who calls on `channel`, if anyone may.
    pub fn caller(&self, channel: usize) -> Option<Caller<'_>> {
        match channel {
            0 => Some(Caller::Trust),
            1 => Some(Caller::NetServer),
            c if APP_CHANNELS.contains(&c) => u8::try_from(c)
                .ok()
                .and_then(|c| self.repo.app_on_channel(c))
                .map(Caller::App),
            _ => None,
        }
    }
}

impl Handler for PolicyRepoPd {
    type Error = Infallible;

    fn protected(
        &mut self,
        channel: Channel,
        msg_info: MessageInfo,
    ) -> Result<MessageInfo, Infallible> {
        let id = channel.index();
        let Some(Some(server)) = self.servers.get(id) else {
            return Ok(MessageInfo::new(ServerError::Buffer.label(), 0));
        };
        // Owned, so that the core can be borrowed mutably below.
        let who: Option<Option<String>> = self.caller(id).map(|c| match c {
            Caller::App(pd) => Some(String::from(pd)),
            _ => None,
        });
        let repo = &mut self.repo;
        let mut installed = false;
        let reply = server.handle(msg_info, |req: Request| -> Result<Response, Error> {
            let who = match (&who, id) {
                (None, _) => return Err(Error::NotPermitted),
                (Some(Some(pd)), _) => Caller::App(pd),
                (Some(None), 0) => Caller::Trust,
                (Some(None), _) => Caller::NetServer,
            };
            let r = repo.handle(who, req);
            installed = matches!(r, Ok(Response::Installed(_)));
            r
        });
        if installed {
            TRUST.notify();
        }
        Ok(reply)
    }

    fn notified(&mut self, _channels: microkit::ChannelSet) -> Result<(), Infallible> {
        // Nobody has a reason to notify the repository: ignore.
        Ok(())
    }
}

/// The PD's entry (`microkit::protection_domain!(policyrepo_pd::init)`).
///
/// It notifies the trust PD once at start: after a restart of this PD the
/// policies installed at run time are gone, and the trust PD must not keep
/// deciding with them.
pub fn init() -> PolicyRepoPd {
    let pd = PolicyRepoPd::from_regions();
    TRUST.notify();
    pd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_length_is_found_without_reading_the_padding() {
        // payload of 3 bytes, signature of 130 bytes (two-byte length).
        let mut b = vec![3, 1, 2, 3, 0x82, 0x01];
        b.extend_from_slice(&[9; 130]);
        let n = b.len();
        b.resize(4096, 0);
        let read = |buf: &[u8], limit: usize| {
            let buf = buf.to_vec();
            move |i: usize| {
                assert!(i < limit, "read past the bundle: {i}");
                buf.get(i).copied()
            }
        };
        assert_eq!(signed_len(4096, read(&b, n)), Some(n));
        // Does not fit in the region, or the lengths run past it.
        assert_eq!(signed_len(n - 1, read(&b, n)), None);
        let mut huge = vec![0xff; 10];
        huge.push(0x01);
        assert_eq!(signed_len(4096, read(&huge, 11)), None);
        assert_eq!(signed_len(4096, read(&[0xff; 12], 12)), None);
        // An empty region holds an empty bundle, which then fails to verify.
        assert_eq!(signed_len(4096, read(&[0; 4], 4)), Some(2));
        assert_eq!(signed_len(0, read(&[], 0)), None);
    }

    #[test]
    fn admin_key_region_is_hex_then_zeros() {
        let mut region = vec![0u8; 4096];
        let hex = b"3df21bad25b2fc92f9867939c1117f29ed4bcb28b8de571a9dff3ca813e4fd2d\n";
        region[..hex.len()].copy_from_slice(hex);
        let k = parse_admin_key(&region).unwrap();
        assert_eq!(k.len(), 32);
        assert_eq!(k[0], 0x3d);
        assert_eq!(k[31], 0x2d);
        assert_eq!(parse_admin_key(&[0; 16]), None);
        assert_eq!(parse_admin_key(b"zz"), None);
        let mut bad = region.clone();
        bad[5] = b'g';
        assert_eq!(parse_admin_key(&bad), None);
        let mut short = region.clone();
        short[62] = 0;
        assert_eq!(parse_admin_key(&short), None);
        // Non-ASCII in the hex is refused, not split mid-character.
        let mut utf = vec![0u8; 64];
        utf[..4].copy_from_slice("éé".as_bytes());
        assert_eq!(parse_admin_key(&utf), None);
    }
}
