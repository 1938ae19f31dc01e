//! The security vocabulary shared by applications, the network server and the
//! policy repository: services, levels, algorithms, what an application asks
//! for, what the administrator allows, and how the two are combined.
//!
//! The rule that is never traded away: an application may ask for *more*
//! protection than its profile's floor, never less. [`ProtectionRequest::resolve`]
//! is the one place that rule is decided.

use core::fmt;
use serde::{Deserialize, Serialize};

/// What ESP must provide (the Secure Socket API's `SEC_*` services).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Service {
    /// `SEC_AUTH`: integrity and origin authentication, no confidentiality (AES-GMAC).
    Auth,
    /// `SEC_CON`: confidentiality. Always provided with integrity here: every
    /// cipher offered is an AEAD, ESP without integrity is never used.
    Con,
    /// `SEC_AUTH_CON`: confidentiality and integrity.
    AuthCon,
}

impl Service {
    /// Whether the service protects integrity and origin.
    pub const fn integrity(self) -> bool {
        matches!(self, Service::Auth | Service::AuthCon)
    }

    /// Whether the service keeps the payload confidential.
    pub const fn confidentiality(self) -> bool {
        matches!(self, Service::Con | Service::AuthCon)
    }

    /// Whether `self` gives at least everything `floor` gives.
    pub const fn satisfies(self, floor: Service) -> bool {
        (self.integrity() || !floor.integrity())
            && (self.confidentiality() || !floor.confidentiality())
    }

    /// The C API's `SEC_*` constant.
    pub const fn to_c(self) -> u32 {
        match self {
            Service::Auth => 1,
            Service::Con => 2,
            Service::AuthCon => 3,
        }
    }

    /// From the C API's `SEC_*` constant.
    pub const fn from_c(v: u32) -> Option<Self> {
        match v {
            1 => Some(Service::Auth),
            2 => Some(Service::Con),
            3 => Some(Service::AuthCon),
            _ => None,
        }
    }
}

/// How strongly IPsec is applied, with OpenBSD's `IPSEC_LEVEL_*` meaning.
/// The derived order is the strength order: `Bypass < Avail < Use < Require < Unique`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// `IPSEC_LEVEL_BYPASS`: no IPsec at all.
    Bypass,
    /// `IPSEC_LEVEL_AVAIL`: protect outbound traffic if an SA is available, accept anything.
    Avail,
    /// `IPSEC_LEVEL_USE`: protect outbound traffic, accept unprotected inbound traffic.
    Use,
    /// `IPSEC_LEVEL_REQUIRE`: protect outbound traffic and require protected inbound traffic.
    Require,
    /// `IPSEC_LEVEL_UNIQUE`: as `Require`, with an SA used by this socket only.
    Unique,
}

impl Level {
    /// The C API's `IPSEC_LEVEL_*` constant (OpenBSD's values).
    pub const fn to_c(self) -> u32 {
        match self {
            Level::Bypass => 0,
            Level::Avail => 1,
            Level::Use => 2,
            Level::Require => 3,
            Level::Unique => 4,
        }
    }

    /// From the C API's `IPSEC_LEVEL_*` constant.
    pub const fn from_c(v: u32) -> Option<Self> {
        match v {
            0 => Some(Level::Bypass),
            1 => Some(Level::Avail),
            2 => Some(Level::Use),
            3 => Some(Level::Require),
            4 => Some(Level::Unique),
            _ => None,
        }
    }

    /// Whether outbound traffic is protected at this level.
    pub const fn protects_outbound(self) -> bool {
        !matches!(self, Level::Bypass | Level::Avail)
    }

    /// Whether unprotected inbound traffic is refused at this level.
    pub const fn requires_inbound(self) -> bool {
        matches!(self, Level::Require | Level::Unique)
    }
}

/// An ESP transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// AES-GCM with a 128-bit key and 16-byte ICV (RFC 4106).
    AesGcm128,
    /// AES-GCM with a 256-bit key and 16-byte ICV (RFC 4106).
    AesGcm256,
    /// ChaCha20-Poly1305 (RFC 7634).
    ChaCha20Poly1305,
    /// AES-GMAC with a 128-bit key, integrity only (RFC 4543).
    AesGmac128,
    /// AES-GMAC with a 256-bit key, integrity only (RFC 4543).
    AesGmac256,
}

impl Algorithm {
    /// Every algorithm, strongest preference first.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::AesGcm256,
        Algorithm::ChaCha20Poly1305,
        Algorithm::AesGcm128,
        Algorithm::AesGmac256,
        Algorithm::AesGmac128,
    ];

    /// The service this transform provides.
    pub const fn service(self) -> Service {
        match self {
            Algorithm::AesGmac128 | Algorithm::AesGmac256 => Service::Auth,
            _ => Service::AuthCon,
        }
    }

    /// Stable name, used in policies (`esp_alg` attribute) and output.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::AesGcm128 => "aes-gcm-128",
            Algorithm::AesGcm256 => "aes-gcm-256",
            Algorithm::ChaCha20Poly1305 => "chacha20-poly1305",
            Algorithm::AesGmac128 => "aes-gmac-128",
            Algorithm::AesGmac256 => "aes-gmac-256",
        }
    }

    /// Parses a [`name`](Self::name).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Algorithm`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct AlgSet(u8);

impl AlgSet {
    /// The empty set.
    pub const EMPTY: AlgSet = AlgSet(0);

    /// Every algorithm.
    pub const fn all() -> AlgSet {
        let mut bits = 0;
        let mut i = 0;
        while i < Algorithm::ALL.len() {
            bits |= Algorithm::ALL[i].bit();
            i += 1;
        }
        AlgSet(bits)
    }

    /// The set with the given bit mask (bit `n` is the `n`th variant of
    /// [`Algorithm`], as in the C API's `SEC_ALG_*` flags). Unknown bits are
    /// kept but never match an algorithm.
    pub const fn from_bits(bits: u8) -> AlgSet {
        AlgSet(bits)
    }

    /// The bit mask.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set holding the given algorithms.
    pub fn of(algs: &[Algorithm]) -> AlgSet {
        AlgSet(algs.iter().fold(0, |b, a| b | a.bit()))
    }

    /// Adds an algorithm.
    pub fn insert(&mut self, a: Algorithm) {
        self.0 |= a.bit();
    }

    /// Whether `a` is in the set.
    pub const fn contains(self, a: Algorithm) -> bool {
        self.0 & a.bit() != 0
    }

    /// Whether the set is empty. Bits for unknown algorithms (from a
    /// misbehaving peer) are ignored.
    pub const fn is_empty(self) -> bool {
        self.0 & AlgSet::all().0 == 0
    }

    /// Intersection.
    pub const fn intersect(self, other: AlgSet) -> AlgSet {
        AlgSet(self.0 & other.0 & AlgSet::all().0)
    }

    /// Whether every member of `self` is in `other`.
    pub const fn is_subset(self, other: AlgSet) -> bool {
        self.intersect(AlgSet::all()).0 & !other.0 == 0
    }

    /// The members, strongest preference first.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }
}

/// The administrator's floor for one application (its profile in the Secure
/// Socket API): the least protection its connections get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    /// Minimum service.
    pub service: Service,
    /// Minimum level.
    pub level: Level,
    /// Algorithms the application may use.
    pub algorithms: AlgSet,
}

/// What an application asks for. Every field is optional: what it leaves out
/// is taken from the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProtectionRequest {
    /// Requested service, or the floor's.
    pub service: Option<Service>,
    /// Requested level, or the floor's.
    pub level: Option<Level>,
    /// Acceptable algorithms; empty means every algorithm the floor allows.
    pub algorithms: AlgSet,
}

/// The protection a socket actually gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    /// Service.
    pub service: Service,
    /// Level.
    pub level: Level,
    /// Algorithms acceptable for this socket, preference order as [`Algorithm::ALL`];
    /// the first is used for outbound SAs.
    pub algorithms: AlgSet,
}

impl Protection {
    /// The algorithm outbound traffic uses, if the level protects outbound traffic.
    pub fn outbound_algorithm(&self) -> Option<Algorithm> {
        if self.level.protects_outbound() {
            self.algorithms.iter().next()
        } else {
            None
        }
    }
}

/// Why a [`ProtectionRequest`] was refused: it asked for less than the floor,
/// or for something that cannot be provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FloorViolation {
    /// The requested service gives less than the floor's service.
    Service {
        /// Floor.
        floor: Service,
        /// Requested.
        requested: Service,
    },
    /// The requested level is below the floor's level.
    Level {
        /// Floor.
        floor: Level,
        /// Requested.
        requested: Level,
    },
    /// The request names algorithms the administrator does not allow.
    Algorithms {
        /// Allowed by the floor.
        allowed: AlgSet,
        /// Requested.
        requested: AlgSet,
    },
    /// No allowed and requested algorithm provides the service.
    NoAlgorithmForService {
        /// The service needed.
        service: Service,
    },
}

impl fmt::Display for FloorViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FloorViolation::Service { floor, requested } => write!(
                f,
                "requested service {requested:?} is below the administrator's floor {floor:?}"
            ),
            FloorViolation::Level { floor, requested } => write!(
                f,
                "requested level {requested:?} is below the administrator's floor {floor:?}"
            ),
            FloorViolation::Algorithms { allowed, requested } => {
                f.write_str("requested algorithms [")?;
                write_set(f, requested.intersect(AlgSet(!allowed.0)))?;
                f.write_str("] are not allowed (allowed: [")?;
                write_set(f, *allowed)?;
                f.write_str("])")
            }
            FloorViolation::NoAlgorithmForService { service } => {
                write!(f, "no allowed algorithm provides service {service:?}")
            }
        }
    }
}

fn write_set(f: &mut fmt::Formatter<'_>, s: AlgSet) -> fmt::Result {
    for (i, a) in s.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(a.name())?;
    }
    Ok(())
}

impl ProtectionRequest {
    /// Combines the request with the administrator's floor: asking for more
    /// is granted, asking for less is an error naming what was too low.
    pub fn resolve(&self, floor: &Floor) -> Result<Protection, FloorViolation> {
        let service = self.service.unwrap_or(floor.service);
        if !service.satisfies(floor.service) {
            return Err(FloorViolation::Service {
                floor: floor.service,
                requested: service,
            });
        }
        let level = self.level.unwrap_or(floor.level);
        if level < floor.level {
            return Err(FloorViolation::Level {
                floor: floor.level,
                requested: level,
            });
        }
        let algorithms = if self.algorithms.is_empty() {
            floor.algorithms
        } else if self.algorithms.is_subset(floor.algorithms) {
            self.algorithms
        } else {
            return Err(FloorViolation::Algorithms {
                allowed: floor.algorithms,
                requested: self.algorithms,
            });
        };
        let mut fitting = AlgSet::EMPTY;
        for a in algorithms.iter().filter(|a| a.service().satisfies(service)) {
            fitting.insert(a);
        }
        if fitting.is_empty() && level.protects_outbound() {
            return Err(FloorViolation::NoAlgorithmForService { service });
        }
        Ok(Protection {
            service,
            level,
            algorithms: fitting,
        })
    }
}
