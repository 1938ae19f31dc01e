//! Security Association Database (RFC 4301 section 4.4.2).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use smoltcp::time::Instant;
use smoltcp::wire::IpAddress;

use crate::crypto::{Algorithm, CryptoError, Transform};
use crate::replay::{ReplayWindow, MAX_WINDOW, MIN_WINDOW};

/// Handle of an SA in the [`Sad`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaId(pub u32);

/// Direction of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We receive with it.
    Inbound,
    /// We send with it.
    Outbound,
}

/// ESP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ESP after the IP header of the packet itself (RFC 4303 section 3.1.1).
    Transport,
    /// The whole packet inside a new IP header from `local` to `remote`
    /// of the SA (RFC 4303 section 3.1.2).
    Tunnel,
}

/// The security service an SA provides or a policy requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Integrity and data-origin authentication only (AES-GMAC, SEC_AUTH).
    Integrity,
    /// Confidentiality and integrity (an AEAD cipher).
    Confidentiality,
}

impl Service {
    /// Whether an SA providing `self` satisfies a requirement of `required`.
    pub fn satisfies(self, required: Service) -> bool {
        self >= required
    }

    /// The service a transform provides.
    pub fn of(algorithm: Algorithm) -> Service {
        if algorithm.confidential() {
            Service::Confidentiality
        } else {
            Service::Integrity
        }
    }
}

/// Lifetime limits; `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// Bytes of ESP payload processed.
    pub bytes: Option<u64>,
    /// Packets processed.
    pub packets: Option<u64>,
    /// Seconds since the SA was added.
    pub seconds: Option<u64>,
}

/// Which lifetime limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeKind {
    /// The byte limit.
    Bytes,
    /// The packet limit.
    Packets,
    /// The time limit.
    Seconds,
}

/// Everything needed to create an SA (hand-keyed, or from a key exchange).
#[derive(Clone, PartialEq, Eq)]
pub struct SaConfig {
    /// Security Parameters Index.
    pub spi: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Transform.
    pub algorithm: Algorithm,
    /// Keying material: the key followed by the 4-byte salt.
    pub keymat: Vec<u8>,
    /// Transport or tunnel.
    pub mode: Mode,
    /// Our address: destination of inbound packets, source of outbound ones
    /// (outer address in tunnel mode).
    pub local: IpAddress,
    /// The peer's address (outer address in tunnel mode).
    pub remote: IpAddress,
    /// Extended (64-bit) sequence numbers, RFC 4304.
    pub esn: bool,
    /// Anti-replay window size, 32 to 4096 (inbound SAs).
    pub replay_window: u32,
    /// Soft lifetime: reaching it raises [`crate::Event::SoftExpired`].
    pub soft: Lifetime,
    /// Hard lifetime: reaching it raises [`crate::Event::HardExpired`] and stops the SA.
    pub hard: Lifetime,
}

impl core::fmt::Debug for SaConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaConfig")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("direction", &self.direction)
            .field("algorithm", &self.algorithm)
            .field("mode", &self.mode)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .finish_non_exhaustive()
    }
}

impl SaConfig {
    /// A transport-mode SA without ESN, a 64-packet window and no lifetimes.
    pub fn new(
        spi: u32,
        direction: Direction,
        algorithm: Algorithm,
        keymat: &[u8],
        local: IpAddress,
        remote: IpAddress,
    ) -> SaConfig {
        SaConfig {
            spi,
            direction,
            algorithm,
            keymat: keymat.to_vec(),
            mode: Mode::Transport,
            local,
            remote,
            esn: false,
            replay_window: 64,
            soft: Lifetime::default(),
            hard: Lifetime::default(),
        }
    }

    /// Same SA in tunnel mode (`local`/`remote` become the tunnel endpoints).
    pub fn tunnel(mut self) -> SaConfig {
        self.mode = Mode::Tunnel;
        self
    }

    /// Same SA with extended sequence numbers.
    pub fn with_esn(mut self, esn: bool) -> SaConfig {
        self.esn = esn;
        self
    }

    /// Same SA with another anti-replay window size.
    pub fn with_replay_window(mut self, size: u32) -> SaConfig {
        self.replay_window = size;
        self
    }

    /// Same SA with soft and hard lifetimes.
    pub fn with_lifetimes(mut self, soft: Lifetime, hard: Lifetime) -> SaConfig {
        self.soft = soft;
        self.hard = hard;
        self
    }
}

/// Error when adding an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SadError {
    /// The keying material has the wrong length for the algorithm.
    BadKey(CryptoError),
    /// An inbound SA with this SPI exists already.
    DuplicateSpi(u32),
    /// SPIs 0 to 255 are reserved (RFC 4303 section 2.1).
    ReservedSpi(u32),
    /// The replay window is outside 32..=4096.
    BadReplayWindow(u32),
    /// `local` and `remote` are of different IP versions.
    AddressFamilyMismatch,
}

/// Life-cycle state of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaState {
    /// Usable.
    Mature,
    /// The soft lifetime expired: still usable, should be replaced.
    Dying,
    /// The hard lifetime expired: unusable.
    Expired,
    /// The outbound sequence number would wrap: unusable (RFC 4303 3.3.3).
    SequenceOverflow,
}

/// Per-SA counters (the RFC 4303 auditable events and traffic figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaCounters {
    /// Packets protected or accepted.
    pub packets: u64,
    /// Bytes of ESP payload (the clear upper-layer data) protected or accepted.
    pub bytes: u64,
    /// Inbound packets refused by the anti-replay check.
    pub replay: u64,
    /// Inbound packets whose ICV did not verify.
    pub integrity_failed: u64,
    /// Inbound authentic packets with bad padding or next header.
    pub malformed: u64,
    /// Inbound packets whose inner selectors did not match the policy.
    pub selector_mismatch: u64,
    /// Outbound packets refused because the sequence number would wrap.
    pub sequence_overflow: u64,
    /// Packets refused because the hard lifetime expired.
    pub expired: u64,
}

/// An SA in the database.
#[derive(Debug)]
pub struct Sa {
    config: SaConfig,
    pub(crate) transform: Transform,
    /// Last sequence number sent (outbound).
    pub(crate) seq_out: u64,
    pub(crate) replay: ReplayWindow,
    pub(crate) counters: SaCounters,
    pub(crate) state: SaState,
    added: Instant,
}

impl Sa {
    /// The configuration (keying material included).
    pub fn config(&self) -> &SaConfig {
        &self.config
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.config.spi
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.config.algorithm
    }

    /// The service the SA provides.
    pub fn service(&self) -> Service {
        Service::of(self.config.algorithm)
    }

    /// Counters.
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// State.
    pub fn state(&self) -> SaState {
        self.state
    }

    /// Last sequence number sent.
    pub fn last_sequence_sent(&self) -> u64 {
        self.seq_out
    }

    /// Highest sequence number received and authenticated.
    pub fn highest_sequence_received(&self) -> u64 {
        self.replay.top()
    }

    /// Whether the SA can carry traffic.
    pub fn usable(&self) -> bool {
        matches!(self.state, SaState::Mature | SaState::Dying)
    }

    /// Highest sequence number this SA may send.
    pub(crate) fn max_seq(&self) -> u64 {
        if self.config.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }

    /// Lifetime check after traffic or time passed: returns the transitions.
    pub(crate) fn check_lifetimes(&mut self, now: Instant) -> Option<(SaState, LifetimeKind)> {
        if self.config.soft == Lifetime::default() && self.config.hard == Lifetime::default() {
            return None;
        }
        let elapsed = now
            .total_micros()
            .saturating_sub(self.added.total_micros())
            .max(0) as u64
            / 1_000_000;
        let reached = |l: &Lifetime| -> Option<LifetimeKind> {
            if l.bytes.is_some_and(|b| self.counters.bytes >= b) {
                Some(LifetimeKind::Bytes)
            } else if l.packets.is_some_and(|p| self.counters.packets >= p) {
                Some(LifetimeKind::Packets)
            } else if l.seconds.is_some_and(|s| elapsed >= s) {
                Some(LifetimeKind::Seconds)
            } else {
                None
            }
        };
        if self.usable() {
            if let Some(kind) = reached(&self.config.hard) {
                self.state = SaState::Expired;
                return Some((SaState::Expired, kind));
            }
        }
        if self.state == SaState::Mature {
            if let Some(kind) = reached(&self.config.soft) {
                self.state = SaState::Dying;
                return Some((SaState::Dying, kind));
            }
        }
        None
    }
}

/// The Security Association Database.
#[derive(Debug, Default)]
pub struct Sad {
    sas: BTreeMap<SaId, Sa>,
    inbound: BTreeMap<u32, SaId>,
    next: u32,
}

impl Sad {
    /// An empty database.
    pub fn new() -> Sad {
        Sad::default()
    }

    /// Add an SA; `now` starts its time lifetime.
    pub fn add(&mut self, config: SaConfig, now: Instant) -> Result<SaId, SadError> {
        if config.spi < 256 {
            return Err(SadError::ReservedSpi(config.spi));
        }
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&config.replay_window) {
            return Err(SadError::BadReplayWindow(config.replay_window));
        }
        if core::mem::discriminant(&config.local) != core::mem::discriminant(&config.remote) {
            return Err(SadError::AddressFamilyMismatch);
        }
        if config.direction == Direction::Inbound && self.inbound.contains_key(&config.spi) {
            return Err(SadError::DuplicateSpi(config.spi));
        }
        let transform =
            Transform::new(config.algorithm, &config.keymat).map_err(SadError::BadKey)?;
        let id = SaId(self.next);
        self.next = self.next.wrapping_add(1);
        if config.direction == Direction::Inbound {
            self.inbound.insert(config.spi, id);
        }
        let replay = ReplayWindow::new(config.replay_window, config.esn);
        self.sas.insert(
            id,
            Sa {
                config,
                transform,
                seq_out: 0,
                replay,
                counters: SaCounters::default(),
                state: SaState::Mature,
                added: now,
            },
        );
        Ok(id)
    }

    /// Remove an SA; returns whether it existed.
    pub fn remove(&mut self, id: SaId) -> bool {
        match self.sas.remove(&id) {
            Some(sa) => {
                if sa.config.direction == Direction::Inbound {
                    self.inbound.remove(&sa.config.spi);
                }
                true
            }
            None => false,
        }
    }

    /// An SA by handle.
    pub fn get(&self, id: SaId) -> Option<&Sa> {
        self.sas.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: SaId) -> Option<&mut Sa> {
        self.sas.get_mut(&id)
    }

    /// Move an outbound SA's sequence counter forward so the next packet
    /// gets `last_sent + 1` (e.g. to resume an SA whose counter was saved).
    /// Never moves it back, which would repeat IVs: returns false then, or if
    /// there is no such SA.
    pub fn advance_sequence(&mut self, id: SaId, last_sent: u64) -> bool {
        match self.sas.get_mut(&id) {
            Some(sa) if last_sent >= sa.seq_out => {
                sa.seq_out = last_sent;
                true
            }
            _ => false,
        }
    }

    /// The inbound SA with this SPI.
    pub fn lookup_inbound(&self, spi: u32) -> Option<SaId> {
        self.inbound.get(&spi).copied()
    }

    /// All SAs.
    pub fn iter(&self) -> impl Iterator<Item = (SaId, &Sa)> {
        self.sas.iter().map(|(id, sa)| (*id, sa))
    }

    /// Number of SAs.
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// Whether there is no SA.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (SaId, &mut Sa)> {
        self.sas.iter_mut().map(|(id, sa)| (*id, sa))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use smoltcp::time::Duration;
    use smoltcp::wire::Ipv4Address;

    fn cfg() -> SaConfig {
        SaConfig::new(
            0x1000,
            Direction::Inbound,
            Algorithm::AesGcm128,
            &[7; 20],
            IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)),
            IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 2)),
        )
    }

    #[test]
    fn add_lookup_remove() {
        let mut sad = Sad::new();
        let now = Instant::from_secs(0);
        let id = sad.add(cfg(), now).unwrap();
        assert_eq!(sad.lookup_inbound(0x1000), Some(id));
        assert_eq!(sad.add(cfg(), now), Err(SadError::DuplicateSpi(0x1000)));
        let mut bad = cfg();
        bad.spi = 255;
        assert_eq!(sad.add(bad, now), Err(SadError::ReservedSpi(255)));
        let bad = cfg().with_replay_window(16);
        assert_eq!(sad.add(bad, now), Err(SadError::BadReplayWindow(16)));
        let mut bad = cfg();
        bad.spi = 0x2000;
        bad.keymat.pop();
        assert!(matches!(sad.add(bad, now), Err(SadError::BadKey(_))));
        assert!(sad.remove(id));
        assert!(!sad.remove(id));
        assert_eq!(sad.lookup_inbound(0x1000), None);
    }

    #[test]
    fn lifetimes_soft_then_hard() {
        let mut sad = Sad::new();
        let t0 = Instant::from_secs(100);
        let c = cfg().with_lifetimes(
            Lifetime {
                packets: Some(2),
                seconds: Some(10),
                ..Default::default()
            },
            Lifetime {
                bytes: Some(1000),
                seconds: Some(20),
                ..Default::default()
            },
        );
        let id = sad.add(c, t0).unwrap();
        let sa = sad.get_mut(id).unwrap();
        assert_eq!(sa.check_lifetimes(t0), None);
        sa.counters.packets = 2;
        assert_eq!(
            sa.check_lifetimes(t0),
            Some((SaState::Dying, LifetimeKind::Packets))
        );
        assert_eq!(sa.check_lifetimes(t0), None);
        assert!(sa.usable());
        assert_eq!(
            sa.check_lifetimes(t0 + Duration::from_secs(20)),
            Some((SaState::Expired, LifetimeKind::Seconds))
        );
        assert!(!sa.usable());
    }
}
