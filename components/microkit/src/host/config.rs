//! The hand-over from `vetted run` to a PD process: which file descriptors
//! hold what. Passed in the environment variable [`ENV_VAR`], one item per
//! line, fields separated by tabs. Shared by the runner (writer) and the
//! backend (reader), so both sides always agree.

use std::fmt::Write as _;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::Perms;

/// Environment variable carrying a PD's configuration.
pub const ENV_VAR: &str = "VETTED_PD";

/// Size of a PD control block and of a call slot (one page).
pub const PAGE: usize = 4096;

/// A memory region mapped into the PD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapConfig {
    /// Memory region name.
    pub name: String,
    /// `setvar_vaddr` symbol, if any.
    pub symbol: Option<String>,
    /// memfd holding the region.
    pub fd: i32,
    /// Size in bytes.
    pub size: u64,
    /// Requested virtual address.
    pub vaddr: u64,
    /// Access rights.
    pub perms: Perms,
}

/// Everything a PD process needs from the runner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PdConfig {
    /// PD name.
    pub name: String,
    /// Passive PD.
    pub passive: bool,
    /// memfd of this PD's control block.
    pub ctl: i32,
    /// Channels this end may notify: (my id, peer control block fd, peer id).
    pub notify: Vec<(u8, i32, u8)>,
    /// Channels whose other end may notify us (my ids).
    pub notify_in: Vec<u8>,
    /// Channels this end may call: (my id, slot fd, peer control fd, peer id).
    pub ppc: Vec<(u8, i32, i32, u8)>,
    /// Channels the other end may call us on: (my id, slot fd).
    pub pps: Vec<(u8, i32)>,
    /// Interrupt channels (my ids).
    pub irqs: Vec<u8>,
    /// Ids of this PD's child PDs (their faults come to us).
    pub children: Vec<u8>,
    /// Mapped memory regions.
    pub maps: Vec<MapConfig>,
}

fn perms_str(p: Perms) -> String {
    let mut s = String::new();
    if p.read {
        s.push('r');
    }
    if p.write {
        s.push('w');
    }
    if p.execute {
        s.push('x');
    }
    s
}

impl PdConfig {
    /// All file descriptors the PD must inherit.
    pub fn fds(&self) -> Vec<i32> {
        let mut v = std::vec![self.ctl];
        v.extend(self.notify.iter().map(|n| n.1));
        for c in &self.ppc {
            v.push(c.1);
            v.push(c.2);
        }
        v.extend(self.pps.iter().map(|c| c.1));
        v.extend(self.maps.iter().map(|m| m.fd));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The text form. Names must not contain tabs or newlines (the runner
    /// checks).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "name\t{}", self.name);
        let _ = writeln!(s, "passive\t{}", u8::from(self.passive));
        let _ = writeln!(s, "ctl\t{}", self.ctl);
        for (id, fd, peer) in &self.notify {
            let _ = writeln!(s, "notify\t{id}\t{fd}\t{peer}");
        }
        for id in &self.notify_in {
            let _ = writeln!(s, "notify_in\t{id}");
        }
        for (id, slot, ctl, peer) in &self.ppc {
            let _ = writeln!(s, "ppc\t{id}\t{slot}\t{ctl}\t{peer}");
        }
        for (id, slot) in &self.pps {
            let _ = writeln!(s, "pps\t{id}\t{slot}");
        }
        for id in &self.irqs {
            let _ = writeln!(s, "irq\t{id}");
        }
        for id in &self.children {
            let _ = writeln!(s, "child\t{id}");
        }
        for m in &self.maps {
            let _ = writeln!(
                s,
                "map\t{}\t{}\t{}\t{}\t{}\t{}",
                m.name,
                m.symbol.as_deref().unwrap_or(""),
                m.fd,
                m.size,
                m.vaddr,
                perms_str(m.perms)
            );
        }
        s
    }

    /// Parses the text form.
    pub fn decode(text: &str) -> Result<Self, String> {
        fn num<T: std::str::FromStr>(f: Option<&str>, line: &str) -> Result<T, String> {
            f.and_then(|f| f.parse().ok())
                .ok_or_else(|| std::format!("bad number in {line:?}"))
        }
        fn chan(f: Option<&str>, line: &str) -> Result<u8, String> {
            let id: u8 = num(f, line)?;
            if usize::from(id) < crate::channel::MAX_CHANNELS {
                Ok(id)
            } else {
                Err(std::format!("channel id out of range in {line:?}"))
            }
        }
        let mut c = PdConfig {
            ctl: -1,
            ..Default::default()
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            let mut f = line.split('\t');
            match f.next() {
                Some("name") => c.name = f.next().unwrap_or("").to_string(),
                Some("passive") => c.passive = f.next() == Some("1"),
                Some("ctl") => c.ctl = num(f.next(), line)?,
                Some("notify") => c.notify.push((
                    chan(f.next(), line)?,
                    num(f.next(), line)?,
                    chan(f.next(), line)?,
                )),
                Some("notify_in") => c.notify_in.push(chan(f.next(), line)?),
                Some("ppc") => c.ppc.push((
                    chan(f.next(), line)?,
                    num(f.next(), line)?,
                    num(f.next(), line)?,
                    chan(f.next(), line)?,
                )),
                Some("pps") => c.pps.push((chan(f.next(), line)?, num(f.next(), line)?)),
                Some("irq") => c.irqs.push(chan(f.next(), line)?),
                Some("child") => c.children.push(chan(f.next(), line)?),
                Some("map") => {
                    let name = f.next().unwrap_or("").to_string();
                    let symbol = f.next().filter(|s| !s.is_empty()).map(str::to_string);
                    let fd = num(f.next(), line)?;
                    let size = num(f.next(), line)?;
                    let vaddr = num(f.next(), line)?;
                    let p = f.next().unwrap_or("");
                    let perms = Perms {
                        read: p.contains('r'),
                        write: p.contains('w'),
                        execute: p.contains('x'),
                    };
                    c.maps.push(MapConfig {
                        name,
                        symbol,
                        fd,
                        size,
                        vaddr,
                        perms,
                    });
                }
                _ => return Err(std::format!("unknown line {line:?}")),
            }
        }
        if c.name.is_empty() || c.ctl < 0 {
            return Err("missing name or control block".into());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let c = PdConfig {
            name: "net server".into(),
            passive: true,
            ctl: 3,
            notify: std::vec![(1, 4, 2)],
            notify_in: std::vec![1, 5],
            ppc: std::vec![(7, 8, 9, 10)],
            pps: std::vec![(11, 12)],
            irqs: std::vec![33],
            children: std::vec![2, 7],
            maps: std::vec![MapConfig {
                name: "rx".into(),
                symbol: Some("rx_vaddr".into()),
                fd: 13,
                size: 0x1000,
                vaddr: 0x2000_0000,
                perms: Perms {
                    read: true,
                    write: false,
                    execute: false
                },
            }],
        };
        assert_eq!(PdConfig::decode(&c.encode()).unwrap(), c);
        assert_eq!(c.fds(), [3, 4, 8, 9, 12, 13]);
        assert!(PdConfig::decode("name\tx\nctl\t3\nirq\t62\n").is_err());
        assert!(PdConfig::decode("name\tx\n").is_err());
        assert!(PdConfig::decode("name\tx\nctl\t3\nbogus\n").is_err());
    }
}
