//! The Raspberry Pi 4 hardware probe: what the `rpi4b-hwprobe` child PD
//! found, in the page it shares with the network server.
//!
//! QEMU's `raspi4b` emulates neither the RNG200 nor the GENET: a load from
//! their registers is a synchronous external abort, which would stop the
//! network server. So the netserver never touches an unproven device
//! itself. Its child PD `hwprobe` (higher priority, so it runs first) maps
//! both register pages, records in the shared page which device it is about
//! to touch ([`Stage`]), reads [`RNG_BYTES`] bytes from the RNG200 and the
//! GENET's revision register, and marks the page [`Stage::Done`]. If the
//! child faults, its fault goes to the netserver (its parent), the page
//! still names the device being probed, and the netserver reports it and
//! runs without network (fail closed: no random seed, no network).
//!
//! The page's layout (little-endian `u32`s): magic at 0, stage at 4, RNG
//! status at 8, RNG byte count at 12, GENET revision at 16; the RNG bytes
//! from [`RNG_OFFSET`]. The netserver reads it once, derives its seed from
//! the RNG bytes ([`crate::entropy::pd_seed_from`]) and zeroes them.
//!
//! Everything in the page is untrusted: [`Report::parse`] checks it.

use core::fmt;

/// Magic at offset 0: "VHP1".
pub const MAGIC: u32 = u32::from_le_bytes(*b"VHP1");
/// Random bytes the probe reads from the RNG200.
pub const RNG_BYTES: usize = 64;
/// Offset of the random bytes in the page.
pub const RNG_OFFSET: usize = 64;
/// Bytes of the page the protocol uses.
pub const PAGE_USED: usize = RNG_OFFSET + RNG_BYTES;

/// How far the probe got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// About to read the RNG200's registers.
    Rng200,
    /// RNG200 done; about to read the GENET's revision register.
    Genet,
    /// Both probed.
    Done,
}

impl Stage {
    fn code(self) -> u32 {
        match self {
            Self::Rng200 => 1,
            Self::Genet => 2,
            Self::Done => 3,
        }
    }

    fn from_code(c: u32) -> Option<Self> {
        match c {
            1 => Some(Self::Rng200),
            2 => Some(Self::Genet),
            3 => Some(Self::Done),
            _ => None,
        }
    }
}

/// What the RNG200 gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RngStatus {
    /// [`RNG_BYTES`] random bytes are in the page.
    Ok,
    /// The generator did not warm up in time.
    NotReady,
    /// The generator reported a health-test failure.
    HealthFailure,
    /// The FIFO count register was out of range.
    BadFifo,
}

impl RngStatus {
    fn code(self) -> u32 {
        match self {
            Self::Ok => 0,
            Self::NotReady => 1,
            Self::HealthFailure => 2,
            Self::BadFifo => 3,
        }
    }

    fn from_code(c: u32) -> Option<Self> {
        match c {
            0 => Some(Self::Ok),
            1 => Some(Self::NotReady),
            2 => Some(Self::HealthFailure),
            3 => Some(Self::BadFifo),
            _ => None,
        }
    }
}

/// Why the page gives no usable report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeError {
    /// The page is smaller than [`PAGE_USED`] or not mapped.
    NoPage,
    /// No magic: the probe PD did not run (or is not in the system).
    NotRun,
    /// The probe stopped at this stage: touching that device faulted
    /// (QEMU `raspi4b` has neither the RNG200 nor the GENET).
    Faulted(Stage),
    /// A field holds a value the protocol does not define (offset given).
    Malformed(usize),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPage => f.write_str("probe page not mapped (hwprobe)"),
            Self::NotRun => f.write_str("the hardware probe PD did not run"),
            Self::Faulted(Stage::Rng200) => f.write_str(
                "reading the RNG200 faulted: this machine has no RNG200 (QEMU raspi4b?)",
            ),
            Self::Faulted(Stage::Genet) => {
                f.write_str("reading the GENET faulted: this machine has no GENET (QEMU raspi4b?)")
            }
            Self::Faulted(Stage::Done) => f.write_str("the probe faulted after finishing"),
            Self::Malformed(at) => write!(f, "probe page malformed at offset {at}"),
        }
    }
}

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The RNG200's answer.
    pub rng: RngStatus,
    /// The random bytes (valid when `rng` is [`RngStatus::Ok`]).
    pub rng_bytes: [u8; RNG_BYTES],
    /// The GENET's `SYS_REV_CTRL` register (v5 reads major 6 in bits 27:24).
    pub genet_rev: u32,
}

fn get(page: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&page[at..at + 4]);
    u32::from_le_bytes(w)
}

fn put(page: &mut [u8], at: usize, v: u32) {
    page[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

impl Report {
    /// Reads the report from `page` (the netserver's side).
    pub fn parse(page: &[u8]) -> Result<Report, ProbeError> {
        if page.len() < PAGE_USED {
            return Err(ProbeError::NoPage);
        }
        if get(page, 0) != MAGIC {
            return Err(ProbeError::NotRun);
        }
        let stage = Stage::from_code(get(page, 4)).ok_or(ProbeError::Malformed(4))?;
        if stage != Stage::Done {
            return Err(ProbeError::Faulted(stage));
        }
        let rng = RngStatus::from_code(get(page, 8)).ok_or(ProbeError::Malformed(8))?;
        let n = get(page, 12);
        if rng == RngStatus::Ok && n as usize != RNG_BYTES {
            return Err(ProbeError::Malformed(12));
        }
        let mut rng_bytes = [0u8; RNG_BYTES];
        rng_bytes.copy_from_slice(&page[RNG_OFFSET..RNG_OFFSET + RNG_BYTES]);
        Ok(Report {
            rng,
            rng_bytes,
            genet_rev: get(page, 16),
        })
    }

    /// Whether the GENET answered as a v5 (major field 6).
    pub fn genet_is_v5(&self) -> bool {
        (self.genet_rev >> 24) & 0xf == 6
    }
}

/// The probe's side: marks `page` as about to probe `stage` (written before
/// touching the device, so a fault leaves it there).
pub fn begin(page: &mut [u8], stage: Stage) {
    if page.len() >= PAGE_USED {
        put(page, 4, stage.code());
        put(page, 0, MAGIC);
    }
}

/// The probe's side: the RNG200's result (`bytes` holds [`RNG_BYTES`] when `Ok`).
pub fn put_rng(page: &mut [u8], status: RngStatus, bytes: &[u8]) {
    if page.len() >= PAGE_USED {
        put(page, 8, status.code());
        let n = bytes.len().min(RNG_BYTES);
        page[RNG_OFFSET..RNG_OFFSET + n].copy_from_slice(&bytes[..n]);
        put(page, 12, n as u32);
    }
}

/// The probe's side: the GENET's revision register.
pub fn put_genet(page: &mut [u8], rev: u32) {
    if page.len() >= PAGE_USED {
        put(page, 16, rev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done_page(rng: RngStatus, bytes: &[u8], rev: u32) -> [u8; 4096] {
        let mut p = [0u8; 4096];
        begin(&mut p, Stage::Rng200);
        put_rng(&mut p, rng, bytes);
        begin(&mut p, Stage::Genet);
        put_genet(&mut p, rev);
        begin(&mut p, Stage::Done);
        p
    }

    #[test]
    fn a_finished_probe_reads_back() {
        let bytes: [u8; RNG_BYTES] = core::array::from_fn(|i| i as u8 ^ 0x5a);
        let r = Report::parse(&done_page(RngStatus::Ok, &bytes, 0x0605_0000)).unwrap();
        assert_eq!(r.rng, RngStatus::Ok);
        assert_eq!(r.rng_bytes, bytes);
        assert!(r.genet_is_v5());
        let r = Report::parse(&done_page(RngStatus::NotReady, &[], 0)).unwrap();
        assert_eq!(r.rng, RngStatus::NotReady);
        assert!(!r.genet_is_v5());
    }

    #[test]
    fn a_probe_stopped_by_a_fault_names_the_device() {
        let mut p = [0u8; 4096];
        assert_eq!(Report::parse(&p), Err(ProbeError::NotRun));
        begin(&mut p, Stage::Rng200);
        assert_eq!(Report::parse(&p), Err(ProbeError::Faulted(Stage::Rng200)));
        put_rng(&mut p, RngStatus::Ok, &[1; RNG_BYTES]);
        begin(&mut p, Stage::Genet);
        assert_eq!(Report::parse(&p), Err(ProbeError::Faulted(Stage::Genet)));
    }

    #[test]
    fn a_malformed_page_is_refused() {
        let mut p = done_page(RngStatus::Ok, &[1; RNG_BYTES], 0);
        put(&mut p, 4, 9);
        assert_eq!(Report::parse(&p), Err(ProbeError::Malformed(4)));
        let mut p = done_page(RngStatus::Ok, &[1; RNG_BYTES], 0);
        put(&mut p, 8, 77);
        assert_eq!(Report::parse(&p), Err(ProbeError::Malformed(8)));
        let mut p = done_page(RngStatus::Ok, &[1; RNG_BYTES], 0);
        put(&mut p, 12, 3);
        assert_eq!(Report::parse(&p), Err(ProbeError::Malformed(12)));
        assert_eq!(Report::parse(&[0u8; 16]), Err(ProbeError::NoPage));
    }
}
