//! `hwprobe`: the Raspberry Pi 4 hardware probe, a child PD of the network
//! server (seL4 only; see `netserver_pd::hwprobe`).
//!
//! It runs before its parent (higher priority), marks in the shared page
//! `hwprobe` which device it is about to touch, reads 64 bytes from the
//! RNG200 (`rng200`, waiting up to 1 s for it to warm up) and the GENET's
//! revision register (`genet_probe`), and marks the page done. Under QEMU
//! `raspi4b`, which has neither device, the first read faults: the fault
//! goes to the netserver, which leaves this PD stopped and starts no
//! network. It then waits forever (it has no channels).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
mod pd {
    use core::time::Duration;
    use microkit::{debug_println, ChannelSet, Handler, MemoryRegion};
    use netserver_pd::hwprobe::{self, Stage, RNG_BYTES};

    microkit::memory_region_symbol!(hwprobe, size = 0x1000);
    microkit::memory_region_symbol!(rng200, size = 0x1000);
    microkit::memory_region_symbol!(genet_probe, size = 0x1000);

    /// How long the RNG200 may take to warm up.
    const WARMUP: Duration = Duration::from_secs(1);

    pub struct Probe;

    impl Handler for Probe {
        type Error = core::convert::Infallible;

        fn notified(&mut self, _channels: ChannelSet) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    fn publish(page: &MemoryRegion, local: &[u8]) {
        if page.write(0, local).is_err() {
            debug_println!("hwprobe: cannot write the probe page");
        }
    }

    pub fn init() -> Probe {
        let Ok(page) = MemoryRegion::by_name("hwprobe") else {
            debug_println!("hwprobe: no probe page (hwprobe): nothing probed");
            return Probe;
        };
        let mut local = [0u8; hwprobe::PAGE_USED];
        hwprobe::begin(&mut local, Stage::Rng200);
        publish(&page, &local);
        let mut bytes = [0u8; RNG_BYTES];
        let status = match MemoryRegion::by_name("rng200") {
            Ok(r) => netserver_pd::genet::read_rng200(r, WARMUP, &mut bytes),
            Err(_) => hwprobe::RngStatus::NotReady,
        };
        hwprobe::put_rng(&mut local, status, &bytes);
        bytes.fill(0);
        hwprobe::begin(&mut local, Stage::Genet);
        publish(&page, &local);
        let rev = match MemoryRegion::by_name("genet_probe") {
            Ok(r) => netserver_pd::genet::genet_revision(r),
            Err(_) => 0,
        };
        hwprobe::put_genet(&mut local, rev);
        hwprobe::begin(&mut local, Stage::Done);
        publish(&page, &local);
        local.fill(0);
        debug_println!("hwprobe: RNG200 {status:?}, GENET revision {rev:#010x}");
        Probe
    }
}

#[cfg(target_os = "none")]
microkit::protection_domain!(pd::init, stack_size = 0x4000, heap_size = 0x4000);

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "rpi4b-hwprobe is a seL4 PD of the Raspberry Pi 4 system (system/sel4/node-a-rpi4b.system)"
    );
    std::process::exit(2);
}
