//! Local ports: a dynamic pool the server allocates from, and fixed ports an
//! application may bind only if the administrator reserved them for it or
//! nobody did.

use alloc::collections::{BTreeMap, BTreeSet};

/// Who holds or may hold a port: the application's identity as the server
/// knows it from its channel.
pub type Owner = u32;

/// Why a port could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// The port is in use, or reserved for another application.
    InUse,
    /// Every port of the dynamic pool is in use.
    Exhausted,
    /// Port 0 or a port of the dynamic pool was asked for by number.
    Invalid,
}

/// The port allocator of one protocol.
#[derive(Debug)]
pub struct PortPool {
    first: u16,
    last: u16,
    /// Next dynamic port to try, so a just-freed port is not reused at once.
    cursor: u16,
    in_use: BTreeMap<u16, Owner>,
    reserved: BTreeMap<u16, Owner>,
    dynamic_free: BTreeSet<u16>,
}

impl PortPool {
    /// A pool handing out `first..=last` dynamically (e.g. the IANA
    /// ephemeral range 49152..=65535).
    pub fn new(first: u16, last: u16) -> Self {
        // Port 0 is never handed out; an empty range becomes one port.
        let first = first.max(1);
        let last = last.max(first);
        PortPool {
            first,
            last,
            cursor: first,
            in_use: BTreeMap::new(),
            reserved: BTreeMap::new(),
            dynamic_free: (first..=last).collect(),
        }
    }

    /// Reserves a fixed port for one application (from its profile).
    pub fn reserve(&mut self, port: u16, owner: Owner) {
        self.reserved.insert(port, owner);
    }

    fn is_dynamic(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// Takes a port from the dynamic pool.
    pub fn allocate(&mut self, owner: Owner) -> Result<u16, PortError> {
        let port = self
            .dynamic_free
            .range(self.cursor..)
            .next()
            .or_else(|| self.dynamic_free.iter().next())
            .copied()
            .ok_or(PortError::Exhausted)?;
        self.dynamic_free.remove(&port);
        self.in_use.insert(port, owner);
        self.cursor = if port == self.last {
            self.first
        } else {
            port + 1
        };
        Ok(port)
    }

    /// Takes a fixed port.
    pub fn take(&mut self, port: u16, owner: Owner) -> Result<(), PortError> {
        if port == 0 || self.is_dynamic(port) {
            return Err(PortError::Invalid);
        }
        if self.reserved.get(&port).is_some_and(|o| *o != owner) {
            return Err(PortError::InUse);
        }
        if self.in_use.contains_key(&port) {
            return Err(PortError::InUse);
        }
        self.in_use.insert(port, owner);
        Ok(())
    }

    /// Gives a port back; only its holder can.
    pub fn release(&mut self, port: u16, owner: Owner) -> bool {
        if self.in_use.get(&port) != Some(&owner) {
            return false;
        }
        self.in_use.remove(&port);
        if self.is_dynamic(port) {
            self.dynamic_free.insert(port);
        }
        true
    }

    /// Who holds a port.
    pub fn holder(&self, port: u16) -> Option<Owner> {
        self.in_use.get(&port).copied()
    }

    /// How many ports are held.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_ports_rotate_and_come_back() {
        let mut p = PortPool::new(50000, 50002);
        assert_eq!(p.allocate(1), Ok(50000));
        assert_eq!(p.allocate(1), Ok(50001));
        assert!(p.release(50000, 1));
        // The cursor moves on before reusing a freed port.
        assert_eq!(p.allocate(2), Ok(50002));
        assert_eq!(p.allocate(2), Ok(50000));
        assert_eq!(p.allocate(2), Err(PortError::Exhausted));
        assert_eq!(p.in_use(), 3);
    }

    #[test]
    fn fixed_ports_respect_reservations_and_holders() {
        let mut p = PortPool::new(49152, 65535);
        p.reserve(7, 1);
        assert_eq!(p.take(7, 2), Err(PortError::InUse));
        assert_eq!(p.take(7, 1), Ok(()));
        assert_eq!(p.take(7, 1), Err(PortError::InUse));
        assert_eq!(p.take(8080, 2), Ok(()));
        assert_eq!(p.take(0, 2), Err(PortError::Invalid));
        assert_eq!(p.take(50000, 2), Err(PortError::Invalid));
        assert_eq!(p.holder(7), Some(1));
    }

    #[test]
    fn only_the_holder_releases() {
        let mut p = PortPool::new(49152, 65535);
        let port = p.allocate(1).unwrap();
        assert!(!p.release(port, 2));
        assert_eq!(p.holder(port), Some(1));
        assert!(p.release(port, 1));
        assert!(!p.release(port, 1));
        assert_eq!(p.in_use(), 0);
    }

    #[test]
    fn degenerate_ranges_do_not_panic() {
        let mut p = PortPool::new(0, 0);
        assert_eq!(p.allocate(1), Ok(1));
        assert_eq!(p.allocate(1), Err(PortError::Exhausted));
        let mut p = PortPool::new(65535, 65535);
        assert_eq!(p.allocate(1), Ok(65535));
        assert!(p.release(65535, 1));
        assert_eq!(p.allocate(1), Ok(65535));
    }
}
