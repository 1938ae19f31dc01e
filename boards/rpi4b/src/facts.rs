//! Facts of the Raspberry Pi 4 Model B (BCM2711), as data.
//!
//! Sources: Linux's `arch/arm/boot/dts/broadcom/bcm2711.dtsi`, `bcm283x.dtsi` and
//! `bcm2711-rpi-4-b.dts` (addresses there are bus addresses: `0x7e..` maps to ARM
//! physical `0xfe..` in the default "low peripheral" mode, `0x7c..`/`0x7d..` to
//! `0xfc..`/`0xfd..`, and the ARM-local `0x40..` to `0xff80_0000 + ..`); U-Boot's and
//! Linux's GENET and RNG200 drivers; the BCM2711 peripherals datasheet for the GIC-400.
//! Interrupt numbers are GIC interrupt ids (INTID), as seL4 and Microkit's
//! `<irq irq="..."/>` use them: SPI `n` is INTID `n + 32`.

/// A device's register window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Physical base address (ARM view, low-peripheral mode).
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

/// GIC interrupt id of shared peripheral interrupt `n`.
pub const fn spi(n: u32) -> u32 {
    n + 32
}

/// The Microkit SDK's board name for the model with `gib` GiB of RAM.
pub const fn microkit_board(gib: u32) -> Option<&'static str> {
    match gib {
        1 => Some("rpi4b_1gb"),
        2 => Some("rpi4b_2gb"),
        4 => Some("rpi4b_4gb"),
        8 => Some("rpi4b_8gb"),
        _ => None,
    }
}

/// Main peripherals window: bus `0x7e00_0000` → ARM `0xfe00_0000`, 24 MiB.
pub const PERIPHERALS: Region = Region {
    base: 0xfe00_0000,
    size: 0x0180_0000,
};

/// GIC-400 distributor (`interrupt-controller@40041000`, ARM-local block).
pub const GIC_DISTRIBUTOR: Region = Region {
    base: 0xff84_1000,
    size: 0x1000,
};
/// GIC-400 CPU interface.
pub const GIC_CPU_INTERFACE: Region = Region {
    base: 0xff84_2000,
    size: 0x2000,
};

/// GENET v5 Ethernet controller (`ethernet@7d580000`, `brcm,bcm2711-genet-v5`).
pub const GENET: Region = Region {
    base: 0xfd58_0000,
    size: 0x1_0000,
};
/// GENET interrupt 0 (SPI 157): INTRL2_0, the default queue and MAC events.
pub const GENET_IRQ_0: u32 = spi(157);
/// GENET interrupt 1 (SPI 158): INTRL2_1, the priority queues (unused by our driver).
pub const GENET_IRQ_1: u32 = spi(158);
/// The GENET's MDIO block (`mdio@e14`), inside its register window.
pub const GENET_MDIO_OFFSET: u64 = 0xe14;
/// MDIO address of the Pi 4's PHY (`ethernet-phy@1`), a Broadcom BCM54213PE.
pub const GENET_PHY_ADDRESS: u8 = 1;
/// PHY interface mode (`phy-mode = "rgmii-rxid"`): the PHY adds the RX clock delay.
pub const GENET_PHY_MODE: &str = "rgmii-rxid";
/// The GENET sits on the SCB bus, which has no `dma-ranges`: it sees ARM physical
/// addresses one to one (40-bit). Its DMA is not cache-coherent.
pub const GENET_DMA_OFFSET: u64 = 0;

/// PL011 UART0 (`serial@7e201000`). On the Pi 4 it drives the Bluetooth module unless
/// `dtoverlay=disable-bt` moves it to the header pins (GPIO 14/15).
pub const UART0: Region = Region {
    base: 0xfe20_1000,
    size: 0x200,
};
/// UART0 interrupt (SPI 121, shared with UART2..5).
pub const UART0_IRQ: u32 = spi(121);
/// UART0 reference clock set by the firmware (`init_uart_clock`, default 48 MHz).
pub const UART0_CLOCK_HZ: u32 = 48_000_000;

/// Mini UART (`serial@7e215040`, UART1): the console on the header pins GPIO 14/15 by
/// default (`stdout-path = "serial1:115200n8"`). Its baud rate follows the VPU clock,
/// so `config.txt` needs `enable_uart=1` (which pins the core clock).
pub const MINI_UART: Region = Region {
    base: 0xfe21_5040,
    size: 0x40,
};
/// Auxiliary peripherals block (enables for the mini UART and SPI1/2).
pub const AUX: Region = Region {
    base: 0xfe21_5000,
    size: 0x8,
};
/// Mini UART interrupt (SPI 93, shared with SPI1/SPI2 through AUX).
pub const MINI_UART_IRQ: u32 = spi(93);

/// System timer (`timer@7e003000`, `brcm,bcm2835-system-timer`, 1 MHz): see
/// [`crate::systimer`].
pub const SYSTEM_TIMER: Region = Region {
    base: 0xfe00_3000,
    size: 0x1000,
};
/// System timer compare channel 1 interrupt (SPI 65, level; channel N is SPI 64 + N).
pub const SYSTEM_TIMER_IRQ_C1: u32 = spi(65);
/// System timer compare channel 3 interrupt (SPI 67, level).
pub const SYSTEM_TIMER_IRQ_C3: u32 = spi(67);

/// RNG200 hardware random number generator (`rng@7e104000`, `brcm,bcm2711-rng200`).
pub const RNG200: Region = Region {
    base: 0xfe10_4000,
    size: 0x28,
};

/// Whether QEMU's `raspi4b` machine emulates the RNG200: it does not (QEMU 10.0; an
/// access aborts). Randomness under QEMU `raspi4b` must come from elsewhere.
pub const QEMU_RASPI4B_HAS_RNG200: bool = false;
/// Whether QEMU's `raspi4b` machine emulates the GENET: it does not.
pub const QEMU_RASPI4B_HAS_GENET: bool = false;

/// VideoCore mailbox (`mailbox@7e00b880`), the way to ask the firmware for the MAC
/// address (property tag [`MAILBOX_TAG_GET_MAC_ADDRESS`]).
pub const MAILBOX: Region = Region {
    base: 0xfe00_b880,
    size: 0x40,
};
/// Firmware property tag "get board MAC address" (6 bytes back).
pub const MAILBOX_TAG_GET_MAC_ADDRESS: u32 = 0x0001_0003;

/// Where the MAC address comes from. The GENET has no MAC address of its own: the
/// Raspberry Pi firmware derives it from the board's OTP and (a) writes it into the
/// device tree it hands on, as `local-mac-address` of the `ethernet0` alias
/// (`/scb/ethernet@7d580000`), and (b) answers the mailbox property tag
/// [`MAILBOX_TAG_GET_MAC_ADDRESS`]. U-Boot reads (a) and exports `ethaddr`; our boot
/// script passes it on. A locally administered address is the fallback.
pub const MAC_ADDRESS_SOURCE: &str =
    "firmware: device tree local-mac-address of ethernet0, or mailbox tag 0x00010003";

/// One range of RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamRange {
    /// Physical start.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

/// End of the first RAM range as the firmware reports it with the default GPU memory
/// split (76 MiB reserved for the VideoCore at the top of the first GiB); `gpu_mem` in
/// `config.txt` moves it. The firmware writes the exact ranges into `/memory`.
pub const LOW_RAM_END_DEFAULT: u64 = 0x3b40_0000;

/// Start of the peripherals hole below 4 GiB (RAM stops there on 4 and 8 GiB models).
pub const PERIPHERAL_HOLE: u64 = 0xfc00_0000;

/// The RAM ranges of the 1, 2, 4 and 8 GiB models (ARM view, default GPU split).
///
/// Note that only the first GiB is reachable by the legacy DMA engines and EMMC2 on
/// early board revisions; the GENET reaches all of it.
pub const fn ram_ranges(gib: u32) -> Option<&'static [RamRange]> {
    const LOW: RamRange = RamRange {
        base: 0,
        size: LOW_RAM_END_DEFAULT,
    };
    match gib {
        1 => Some(&[LOW]),
        2 => Some(&[
            LOW,
            RamRange {
                base: 0x4000_0000,
                size: 0x4000_0000,
            },
        ]),
        4 => Some(&[
            LOW,
            RamRange {
                base: 0x4000_0000,
                size: PERIPHERAL_HOLE - 0x4000_0000,
            },
        ]),
        8 => Some(&[
            LOW,
            RamRange {
                base: 0x4000_0000,
                size: PERIPHERAL_HOLE - 0x4000_0000,
            },
            RamRange {
                base: 0x1_0000_0000,
                size: 0x1_0000_0000,
            },
        ]),
        _ => None,
    }
}

/// The first page holds the firmware's arm stub and the spin tables the secondary
/// cores wait on (`cpu-release-addr` 0xd8, 0xe0, 0xe8, 0xf0): keep it out of any
/// memory region.
pub const RESERVED_LOW: RamRange = RamRange {
    base: 0,
    size: 0x1000,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_match_the_device_tree() {
        assert_eq!(GENET_IRQ_0, 189);
        assert_eq!(GENET_IRQ_1, 190);
        assert_eq!(UART0_IRQ, 153);
        assert_eq!(MINI_UART_IRQ, 125);
        // bus 0x7e104000 -> ARM 0xfe104000
        assert_eq!(RNG200.base - PERIPHERALS.base, 0x7e10_4000 - 0x7e00_0000);
        assert_eq!(MINI_UART.base - AUX.base, 0x40);
    }

    #[test]
    fn ram_ranges_do_not_overlap_and_sum_below_the_model_size() {
        for gib in [1u32, 2, 4, 8] {
            let r = ram_ranges(gib).unwrap();
            let total: u64 = r.iter().map(|x| x.size).sum();
            assert!(total <= u64::from(gib) << 30);
            assert!(total > (u64::from(gib) << 30) - (160 << 20));
            for w in r.windows(2) {
                assert!(w[0].base + w[0].size <= w[1].base);
            }
            assert!(r
                .iter()
                .all(|x| x.base + x.size <= PERIPHERAL_HOLE || x.base >= 1 << 32));
        }
        assert_eq!(ram_ranges(3), None);
    }
}
