//! Self-test of the seL4 runtime, booted by `ci/sel4.sh test` on QEMU virt
//! (`components/microkit/sel4/selftest-virt.system`): PD name, heap, memory
//! regions by name (and the errors), the random source failing closed until
//! seeded from the device tree's `/chosen/rng-seed`, then a deliberate panic
//! (the panic handler must print the PD name and message, and the monitor
//! must report the fault). The `overflow` PD recurses until it hits the
//! stack guard page. The `irq` PD takes the PL011's receive interrupts
//! (characters typed by the test in two batches: the second batch arrives
//! only if the first interrupt was acknowledged; a third batch only if the
//! second's deferred ack, fused with the receive, worked). The `child` PD faults and
//! its parent's `fault()` gets it. Each check prints
//! `selftest: ok <what>` or panics.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod sel4 {
    extern crate alloc;
    use alloc::{boxed::Box, vec, vec::Vec};
    use microkit::{
        debug_println, fdt, AccessError, Channel, ChannelSet, Child, DeferredAction,
        DeferredActionSlot, Handler, Infallible, MemoryRegion, MemoryRegionError, MessageInfo,
    };

    microkit::memory_region_symbol!(dtb, size = 0x10_0000, perms = r);
    microkit::memory_region_symbol!(scratch, size = 0x1000);
    // Declared, but no map in the system patches it.
    microkit::memory_region_symbol!(unmapped, size = 0x1000);
    // The PL011 UART (QEMU virt), for the IRQ test.
    microkit::memory_region_symbol!(uart, size = 0x1000);

    /// Prints a line: `debug_println!` (the kernel's debug console) in the
    /// debug config; in release and benchmark, where the kernel has no
    /// console, `debug_println!` must be a harmless no-op, so it is called
    /// too and the line then goes straight to the PL011's data register.
    macro_rules! say {
        ($($arg:tt)*) => {{
            debug_println!($($arg)*);
            if microkit::sel4::CONFIG != "debug" {
                uart_line(format_args!($($arg)*));
            }
        }};
    }

    fn uart_line(args: core::fmt::Arguments<'_>) {
        struct Tx(MemoryRegion);
        impl core::fmt::Write for Tx {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                for b in s.bytes() {
                    while self.0.load_u32(FR).map_err(|_| core::fmt::Error)? & FR_TXFF != 0 {}
                    self.0
                        .atomic_u32(DR)
                        .map_err(|_| core::fmt::Error)?
                        .store(u32::from(b), core::sync::atomic::Ordering::Release);
                }
                Ok(())
            }
        }
        if let Ok(uart) = MemoryRegion::by_name("uart") {
            let _ = core::fmt::Write::write_fmt(&mut Tx(uart), format_args!("{args}\r\n"));
        }
    }

    const UART_IRQ: Channel = Channel::new(7);
    const FR_TXFF: u32 = 1 << 5;
    const DR: usize = 0x00;
    const FR: usize = 0x18;
    const FR_RXFE: u32 = 1 << 4;
    const IMSC: usize = 0x38;
    const ICR: usize = 0x44;
    const RX_INTERRUPTS: u32 = (1 << 4) | (1 << 6); // RXIM | RTIM

    /// The PD roles: `selftest` and `overflow` end in init (panic, fault);
    /// `irq` serves PL011 receive interrupts.
    pub enum Pd {
        Irq {
            uart: MemoryRegion,
            received: usize,
            /// Acks after the first are deferred (seL4: fused with the next
            /// receive, NBSendRecv).
            deferred: DeferredActionSlot,
        },
        Parent,
    }

    impl Handler for Pd {
        type Error = Infallible;

        fn fault(
            &mut self,
            child: Child,
            msg: MessageInfo,
        ) -> Result<Option<MessageInfo>, Infallible> {
            // seL4 fault label 3 = UserException (the child's `udf`). Not
            // answering leaves the child blocked; the kernel's debug build
            // notes the unused reply when the parent receives again.
            say!(
                "parent: fault from child {} (seL4 fault label {}), leaving it stopped",
                child.index(),
                msg.label()
            );
            Ok(None)
        }

        fn notified(&mut self, channels: ChannelSet) -> Result<(), Infallible> {
            let Pd::Irq {
                uart,
                received,
                deferred,
            } = self
            else {
                panic!("unexpected notification {}", channels.display());
            };
            if !channels.contains(UART_IRQ) {
                panic!("irq: unexpected notification {}", channels.display());
            }
            // Clear the interrupt first, then drain: a character arriving
            // while we drain raises it again (clearing after draining could
            // lose it). Device registers through the region's 32-bit
            // accessors (single loads and stores on the uncached mapping).
            uart.atomic_u32(ICR)
                .expect("ICR")
                .store(RX_INTERRUPTS, core::sync::atomic::Ordering::Release);
            while uart.load_u32(FR).expect("FR") & FR_RXFE == 0 {
                let c = uart.load_u32(DR).expect("DR") as u8;
                *received += 1;
                say!("irq: got {:?} via IRQ", c as char);
            }
            if *received <= 2 {
                // the first batch: acknowledged at once
                if let Err(e) = UART_IRQ.irq_ack() {
                    say!("irq: FAILED ack: {e}");
                }
            } else {
                // later ones: deferred, i.e. fused with the next receive
                if let Err(e) = deferred.defer_irq_ack(UART_IRQ) {
                    say!("irq: FAILED ack: {e}");
                }
            }
            say!("irq: {} chars received via IRQ, acked", received);
            Ok(())
        }

        fn take_deferred_action(&mut self) -> Option<DeferredAction> {
            match self {
                Pd::Irq { deferred, .. } => deferred.take(),
                Pd::Parent => None,
            }
        }
    }

    fn check(ok: bool, what: &str) {
        if !ok {
            panic!("selftest: FAILED {what}");
        }
        say!("selftest: ok {what}");
    }

    #[inline(never)]
    fn recurse(n: u64) -> u64 {
        let buf = core::hint::black_box([n; 64]);
        if n == u64::MAX {
            return 0;
        }
        recurse(n + 1).wrapping_add(buf[3])
    }

    pub fn init() -> Pd {
        if microkit::pd_name() == "irq" {
            let uart = MemoryRegion::by_name("uart").expect("uart");
            uart.atomic_u32(IMSC)
                .expect("IMSC")
                .store(RX_INTERRUPTS, core::sync::atomic::Ordering::Release);
            say!("irq: ready, type three characters");
            // The first interrupt is taken with wait_notified (seL4: a
            // receive outside the event loop), the rest by notified().
            let woke = microkit::wait_notified(ChannelSet::from_bits(1 << UART_IRQ.index()));
            say!("irq: wait_notified woke on {}", woke.display());
            let mut pd = Pd::Irq {
                uart,
                received: 0,
                deferred: DeferredActionSlot::new(),
            };
            let _ = pd.notified(woke);
            return pd;
        }
        if microkit::pd_name() == "parent" {
            say!("parent: up, child starts");
            return Pd::Parent;
        }
        if microkit::pd_name() == "child" {
            say!("child: faulting on purpose");
            panic!("child: deliberate fault");
        }
        if microkit::pd_name() == "overflow" {
            say!("overflow: recursing into the stack guard page");
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

        // ring on seL4: its AArch64 assembly (assembled by microkit's build
        // script) and SystemRandom (getrandom's custom source, seeded above).
        let digest = ring::digest::digest(&ring::digest::SHA256, b"abc");
        check(
            digest.as_ref()[..4] == [0xba, 0x78, 0x16, 0xbf]
                && digest.as_ref()[28..] == [0xf2, 0x00, 0x15, 0xad],
            "ring SHA-256 known answer",
        );
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("P-256 key");
        let key =
            ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("key");
        let sig = key.sign(&rng, b"vetted on seL4").expect("sign");
        use ring::signature::KeyPair;
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            key.public_key().as_ref(),
        );
        check(
            public.verify(b"vetted on seL4", sig.as_ref()).is_ok(),
            "ring P-256 ECDSA sign and verify",
        );
        check(
            public.verify(b"vetted on seL5", sig.as_ref()).is_err(),
            "ring rejects a wrong message",
        );
        let sealing = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &[7u8; 16]).expect("aes key"),
        );
        let mut data = b"ESP payload".to_vec();
        let nonce = || ring::aead::Nonce::assume_unique_for_key([1u8; 12]);
        sealing
            .seal_in_place_append_tag(nonce(), ring::aead::Aad::empty(), &mut data)
            .expect("seal");
        let opened = sealing
            .open_in_place(nonce(), ring::aead::Aad::empty(), &mut data)
            .expect("open");
        check(opened == b"ESP payload", "ring AES-128-GCM seal and open");

        say!("selftest: all checks passed; now a deliberate panic");
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
