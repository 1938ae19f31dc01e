//! Self-test of the seL4 runtime, booted by `ci/sel4.sh test` on QEMU virt
//! (`components/microkit/sel4/selftest-virt.system`): PD name, heap, memory
//! regions by name (and the errors), the random source failing closed until
//! seeded from the device tree's `/chosen/rng-seed`, then a deliberate panic
//! (the panic handler must print the PD name and message, and the monitor
//! must report the fault). The `overflow` PD recurses until it hits the
//! stack guard page. Each check prints `selftest: ok <what>` or panics.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod sel4 {
    extern crate alloc;
    use alloc::{boxed::Box, vec, vec::Vec};
    use microkit::{debug_println, fdt, AccessError, MemoryRegion, MemoryRegionError, NullHandler};

    microkit::memory_region_symbol!(dtb, size = 0x10_0000, perms = r);
    microkit::memory_region_symbol!(scratch, size = 0x1000);
    // Declared, but no map in the system patches it.
    microkit::memory_region_symbol!(unmapped, size = 0x1000);

    fn check(ok: bool, what: &str) {
        if !ok {
            panic!("selftest: FAILED {what}");
        }
        debug_println!("selftest: ok {what}");
    }

    #[inline(never)]
    fn recurse(n: u64) -> u64 {
        let buf = core::hint::black_box([n; 64]);
        if n == u64::MAX {
            return 0;
        }
        recurse(n + 1).wrapping_add(buf[3])
    }

    pub fn init() -> NullHandler {
        if microkit::pd_name() == "overflow" {
            debug_println!("overflow: recursing into the stack guard page");
            let r = recurse(0);
            panic!("overflow: recursion returned {r}");
        }
        check(microkit::pd_name() == "selftest", "pd_name");
        check(!microkit::pd_is_passive(), "not passive");

        let mut v: Vec<u64> = Vec::new();
        for i in 0..20_000 {
            v.push(i);
        }
        let big = vec![0xa5u8; 512 * 1024];
        check(
            v.iter().sum::<u64>() == 20_000 * 19_999 / 2 && big[big.len() - 1] == 0xa5,
            "heap",
        );
        drop(big);
        let again: Box<[u8]> = vec![1u8; 600 * 1024].into_boxed_slice();
        check(again.len() == 600 * 1024, "heap reuses freed memory");

        check(
            MemoryRegion::by_name("nope").err() == Some(MemoryRegionError::NotFound),
            "unknown region",
        );
        check(
            MemoryRegion::by_name("unmapped").err() == Some(MemoryRegionError::NotFound),
            "unpatched region",
        );
        let scratch = MemoryRegion::by_name("scratch").expect("scratch");
        scratch.write(0xff0, &[1, 2, 3, 4]).expect("scratch write");
        let mut b = [0u8; 4];
        scratch.read(0xff0, &mut b).expect("scratch read");
        check(b == [1, 2, 3, 4], "read-write region");
        check(
            matches!(
                scratch.write(0xffe, &[0; 4]),
                Err(AccessError::OutOfBounds { .. })
            ),
            "bounds",
        );

        let mut buf = [0u8; 8];
        check(
            getrandom::getrandom(&mut buf).is_err(),
            "random source fails closed before seeding",
        );

        let dtb = MemoryRegion::by_name("dtb").expect("dtb");
        check(
            dtb.write(0, &[0]) == Err(AccessError::Permission),
            "read-only region",
        );
        let mut head = [0u8; 8];
        dtb.read(0, &mut head).expect("dtb header");
        let size = fdt::total_size(&head).expect("device tree at the start of RAM");
        let mut blob = vec![0u8; size.min(dtb.size())];
        dtb.read(0, &mut blob).expect("dtb copy");
        let seed = fdt::property(&blob, &["chosen"], "rng-seed").expect("/chosen/rng-seed");
        check(
            seed.len() >= 32 && seed.iter().any(|&x| x != 0),
            "rng-seed from the device tree",
        );
        microkit::add_entropy(seed);
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        getrandom::getrandom(&mut x).expect("seeded");
        getrandom::getrandom(&mut y).expect("seeded");
        check(x != y && x != [0; 32], "random source after seeding");

        debug_println!("selftest: all checks passed; now a deliberate panic");
        panic!("deliberate panic {}", 42);
    }
}

#[cfg(target_os = "none")]
microkit::protection_domain!(sel4::init, heap_size = 0x40_0000);

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("sel4-selftest runs on seL4 only (ci/sel4.sh test)");
    std::process::exit(2);
}
