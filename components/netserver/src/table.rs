//! The socket table: one control block per socket, keeping the socket's
//! security context, the protection in force, the handle of the SPD rule made
//! for it and the local port it holds. Every lookup names the owner, so an
//! application can never see or touch another application's socket: a
//! foreign handle is indistinguishable from a handle that does not exist.

use crate::ports::Owner;
use alloc::collections::BTreeMap;
use netserver_api::{Endpoint, Error, Protection, Proto, SecurityContext, SocketId};

/// Where a socket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockState {
    /// Created, nothing vetted yet.
    Created,
    /// Bound to a vetted local endpoint.
    Bound,
    /// A listening TCP socket.
    Listening,
    /// A vetted TCP connection being opened.
    Connecting,
    /// An open connection (or a UDP socket with a vetted destination).
    Connected,
}

/// The per-socket control block. `H` is the SPD rule handle type of the
/// ESP layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlBlock<H> {
    /// The application owning the socket.
    pub owner: Owner,
    /// TCP or UDP.
    pub proto: Proto,
    /// State.
    pub state: SockState,
    /// The security context the socket was vetted with.
    pub ctx: Option<SecurityContext>,
    /// The protection in force.
    pub protection: Option<Protection>,
    /// The SPD rule made for this socket; removed when it closes.
    pub rule: Option<H>,
    /// The local port held from the pool.
    pub local_port: Option<u16>,
    /// The remote endpoint of a connection.
    pub remote: Option<Endpoint>,
    /// Receive timeout in milliseconds (0 = forever).
    pub recv_timeout_ms: u32,
    /// Non-blocking mode.
    pub nonblocking: bool,
}

impl<H> ControlBlock<H> {
    fn new(owner: Owner, proto: Proto) -> Self {
        ControlBlock {
            owner,
            proto,
            state: SockState::Created,
            ctx: None,
            protection: None,
            rule: None,
            local_port: None,
            remote: None,
            recv_timeout_ms: 0,
            nonblocking: false,
        }
    }
}

/// The table.
#[derive(Debug)]
pub struct SocketTable<H> {
    socks: BTreeMap<SocketId, ControlBlock<H>>,
    next: SocketId,
    max_total: usize,
    max_per_owner: usize,
}

impl<H> SocketTable<H> {
    /// A table holding at most `max_total` sockets, `max_per_owner` for each
    /// application.
    pub fn new(max_total: usize, max_per_owner: usize) -> Self {
        SocketTable {
            socks: BTreeMap::new(),
            next: 1,
            max_total,
            max_per_owner,
        }
    }

    /// Creates a socket for `owner`.
    pub fn create(&mut self, owner: Owner, proto: Proto) -> Result<SocketId, Error> {
        if self.socks.len() >= self.max_total || self.count(owner) >= self.max_per_owner {
            return Err(Error::NoBuffers);
        }
        // Ids are not reused soon after a close: the counter moves on and
        // skips live ids when it wraps.
        let mut id = self.next;
        while id == 0 || self.socks.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next = id.wrapping_add(1);
        self.socks.insert(id, ControlBlock::new(owner, proto));
        Ok(id)
    }

    /// The control block of `owner`'s socket `id`.
    pub fn get(&self, owner: Owner, id: SocketId) -> Result<&ControlBlock<H>, Error> {
        self.socks
            .get(&id)
            .filter(|cb| cb.owner == owner)
            .ok_or(Error::BadSocket)
    }

    /// The control block of `owner`'s socket `id`, to change it.
    pub fn get_mut(&mut self, owner: Owner, id: SocketId) -> Result<&mut ControlBlock<H>, Error> {
        self.socks
            .get_mut(&id)
            .filter(|cb| cb.owner == owner)
            .ok_or(Error::BadSocket)
    }

    /// Removes `owner`'s socket `id` and returns its control block, so the
    /// caller removes its SPD rule and gives back its port.
    pub fn remove(&mut self, owner: Owner, id: SocketId) -> Result<ControlBlock<H>, Error> {
        self.get(owner, id)?;
        self.socks.remove(&id).ok_or(Error::BadSocket)
    }

    /// Removes every socket of `owner` (it exited or crashed).
    pub fn remove_all(&mut self, owner: Owner) -> alloc::vec::Vec<ControlBlock<H>> {
        let ids: alloc::vec::Vec<SocketId> = self
            .socks
            .iter()
            .filter(|(_, cb)| cb.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.socks.remove(&id))
            .collect()
    }

    /// Who owns socket `id` and its protocol (for the server's own
    /// bookkeeping; never answers an application).
    pub fn owner_of(&self, id: SocketId) -> Option<(Owner, Proto)> {
        self.socks.get(&id).map(|cb| (cb.owner, cb.proto))
    }

    /// How many sockets `owner` has.
    pub fn count(&self, owner: Owner) -> usize {
        self.socks.values().filter(|cb| cb.owner == owner).count()
    }

    /// How many sockets exist.
    pub fn len(&self) -> usize {
        self.socks.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.socks.is_empty()
    }

    /// Every SPD rule handle held by a socket (for leak checks and audits).
    pub fn rules(&self) -> impl Iterator<Item = &H> {
        self.socks.values().filter_map(|cb| cb.rule.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_sockets_are_invisible() {
        let mut t: SocketTable<u32> = SocketTable::new(16, 8);
        let a = t.create(1, Proto::Tcp).unwrap();
        assert!(t.get(1, a).is_ok());
        assert_eq!(t.get(2, a), Err(Error::BadSocket));
        assert_eq!(t.get_mut(2, a).err(), Some(Error::BadSocket));
        assert_eq!(t.remove(2, a).err(), Some(Error::BadSocket));
        assert_eq!(t.get(1, 999), Err(Error::BadSocket));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn remove_hands_back_the_rule_and_port() {
        let mut t: SocketTable<u32> = SocketTable::new(16, 8);
        let a = t.create(1, Proto::Udp).unwrap();
        {
            let cb = t.get_mut(1, a).unwrap();
            cb.rule = Some(42);
            cb.local_port = Some(50000);
        }
        assert_eq!(t.rules().copied().collect::<alloc::vec::Vec<_>>(), [42]);
        let cb = t.remove(1, a).unwrap();
        assert_eq!((cb.rule, cb.local_port), (Some(42), Some(50000)));
        assert_eq!(t.rules().count(), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn limits_are_per_owner_and_total() {
        let mut t: SocketTable<u32> = SocketTable::new(3, 2);
        t.create(1, Proto::Tcp).unwrap();
        t.create(1, Proto::Tcp).unwrap();
        assert_eq!(t.create(1, Proto::Tcp), Err(Error::NoBuffers));
        t.create(2, Proto::Tcp).unwrap();
        assert_eq!(t.create(3, Proto::Tcp), Err(Error::NoBuffers));
        assert_eq!(t.remove_all(1).len(), 2);
        assert_eq!(t.count(1), 0);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn ids_are_not_reused_at_once_and_skip_live_ones_on_wrap() {
        let mut t: SocketTable<u32> = SocketTable::new(16, 16);
        let a = t.create(1, Proto::Tcp).unwrap();
        t.remove(1, a).unwrap();
        let b = t.create(1, Proto::Tcp).unwrap();
        assert_ne!(a, b);
        t.next = u32::MAX;
        let c = t.create(1, Proto::Tcp).unwrap();
        assert_eq!(c, u32::MAX);
        // Wraps past 0 and past the live id `b`.
        let d = t.create(1, Proto::Tcp).unwrap();
        assert_ne!(d, 0);
        assert_ne!(d, b);
    }
}
