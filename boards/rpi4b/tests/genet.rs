//! The GENET v5 driver against a register-level model of its rings, MDIO and PHY.

mod model;

use board_rpi4b::genet::{cmd, irq, mii, reg, Config, Delay, Error, Genet, Link, Speed, MAX_FRAME};
use model::{Model, ModelRegs, Partner, SharedDma};
use smoltcp::iface::{Config as IfConfig, Interface, SocketSet};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use std::cell::RefCell;
use std::rc::Rc;

const MAC_A: [u8; 6] = [0xdc, 0xa6, 0x32, 0x01, 0x02, 0x03];
const MAC_B: [u8; 6] = [0xdc, 0xa6, 0x32, 0x0a, 0x0b, 0x0c];
const DMA_BASE: u64 = 0x2000_0000;

/// Counts the microseconds the driver asked to wait.
#[derive(Default)]
struct CountingDelay(u64);

impl Delay for CountingDelay {
    fn delay_us(&mut self, us: u32) {
        self.0 += u64::from(us);
    }
}

type Nic = Genet<ModelRegs, SharedDma>;

fn cfg(mac: [u8; 6], ring_len: u16) -> Config {
    Config {
        mac,
        phy_address: 1,
        ring_len,
    }
}

fn setup_with(
    mac: [u8; 6],
    ring_len: u16,
    f: impl FnOnce(&mut Model),
) -> (Nic, Rc<RefCell<Model>>) {
    let c = cfg(mac, ring_len);
    let dma = SharedDma::new(c.dma_size(), DMA_BASE);
    let mut m = Model::new(&dma);
    f(&mut m);
    let model = Rc::new(RefCell::new(m));
    let mut d = CountingDelay::default();
    let nic = Genet::new(ModelRegs(model.clone()), dma, c, &mut d).expect("init");
    (nic, model)
}

/// Driver set up, PHY started and link up.
fn up(mac: [u8; 6], ring_len: u16) -> (Nic, Rc<RefCell<Model>>) {
    let (mut nic, model) = setup_with(mac, ring_len, |_| {});
    nic.start_phy(&mut CountingDelay::default()).unwrap();
    for _ in 0..10 {
        if nic.poll_link().unwrap() != Link::Down {
            break;
        }
    }
    assert!(matches!(nic.link(), Link::Up { .. }));
    (nic, model)
}

fn frame(n: usize, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&MAC_A);
    f[6..12].copy_from_slice(&MAC_B);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    for (i, b) in f[14..].iter_mut().enumerate() {
        *b = (n.wrapping_mul(131).wrapping_add(i)) as u8;
    }
    f
}

fn recv(nic: &mut Nic) -> Result<Option<Vec<u8>>, Error> {
    let mut buf = [0u8; MAX_FRAME];
    Ok(nic.receive_into(&mut buf)?.map(|n| buf[..n].to_vec()))
}

#[test]
fn init_programs_mac_rings_and_interrupts() {
    let (nic, model) = setup_with(MAC_A, 256, |_| {});
    let m = model.borrow();
    assert_eq!(m.r(reg::SYS_PORT_CTRL), 3);
    assert_eq!(m.r(reg::UMAC_MAC0), 0xdca6_3201);
    assert_eq!(m.r(reg::UMAC_MAC1), 0x0203);
    assert_eq!(m.r(reg::UMAC_MAX_FRAME_LEN), 1536);
    assert_eq!(
        m.r(reg::RBUF_CTRL) & 3,
        2,
        "2-byte RX alignment, no status block"
    );
    assert_eq!(m.r(reg::TBUF_CTRL) & 1, 0, "no TX status block");
    assert_eq!(m.r(reg::UMAC_MDF_CTRL), 0x18000);
    assert_eq!(m.r(reg::UMAC_MDF_ADDR), 0xffff);
    assert_eq!(m.r(reg::UMAC_MDF_ADDR + 4), 0xffff_ffff);
    assert_eq!(m.r(reg::UMAC_MDF_ADDR + 8), 0xdca6);
    assert_eq!(m.r(reg::UMAC_MDF_ADDR + 12), 0x3201_0203);
    assert_eq!(m.r(reg::RDMA_END_ADDR), 256 * 3 - 1);
    assert_eq!(m.r(reg::RDMA_RING_BUF_SIZE), (256 << 16) | 2048);
    assert_eq!(
        m.r(reg::RDMA_CONS_INDEX),
        0x1234,
        "consumer aligned to the producer"
    );
    assert_eq!(
        m.r(reg::TDMA_PROD_INDEX),
        0xfff0,
        "producer aligned to the consumer"
    );
    assert_eq!(m.r(reg::RDMA_RING_CFG), 1 << 16);
    assert_eq!(m.r(reg::TDMA_CTRL), (1 << 17) | 1);
    assert_eq!(m.r(reg::RDMA_CTRL) & ((1 << 17) | 1), (1 << 17) | 1);
    // RX descriptor i points at buffer i.
    for i in [0usize, 1, 255] {
        let d = reg::RX_DESC_BASE + 12 * i;
        assert_eq!(u64::from(m.r(d + 4)), DMA_BASE + 2048 * i as u64);
        assert_eq!(m.r(d + 8), 0);
    }
    assert_eq!(
        !m.r(reg::INTRL2_0_MASK_STATUS),
        irq::RXDMA_DONE | irq::TXDMA_DONE
    );
    // The MAC stays off until a link is up.
    assert_eq!(m.r(reg::UMAC_CMD) & (cmd::TX_EN | cmd::RX_EN), 0);
    assert_eq!(nic.link(), Link::Down);
    assert!(m.faults.is_empty(), "{:?}", m.faults);
}

#[test]
fn wrong_revision_and_bad_configs_are_refused() {
    let c = cfg(MAC_A, 64);
    let dma = SharedDma::new(c.dma_size(), DMA_BASE);
    let mut m = Model::new(&dma);
    m.regs[0] = 0x0504_0000; // GENET v4
    let r = Genet::new(
        ModelRegs(Rc::new(RefCell::new(m))),
        dma.clone(),
        c,
        &mut CountingDelay::default(),
    );
    assert_eq!(
        r.err(),
        Some(Error::UnsupportedVersion { major: 5, minor: 4 })
    );
    for ring_len in [0u16, 2, 48, 512] {
        let m = Model::new(&dma);
        let r = Genet::new(
            ModelRegs(Rc::new(RefCell::new(m))),
            dma.clone(),
            cfg(MAC_A, ring_len),
            &mut CountingDelay::default(),
        );
        assert_eq!(r.err(), Some(Error::BadConfig), "ring_len {ring_len}");
    }
    let small = SharedDma::new(c.dma_size() - 1, DMA_BASE);
    let m = Model::new(&small);
    let r = Genet::new(
        ModelRegs(Rc::new(RefCell::new(m))),
        small,
        c,
        &mut CountingDelay::default(),
    );
    assert_eq!(r.err(), Some(Error::BadConfig));
}

#[test]
fn phy_negotiates_and_the_mac_follows() {
    let cases = [
        (model::GIGABIT_PARTNER, Speed::Mbps1000, true, 2 << 2),
        (
            Partner {
                lpa: 0x41e1,
                stat1000: 0,
            },
            Speed::Mbps100,
            true,
            1 << 2,
        ),
        (
            Partner {
                lpa: 0x4021,
                stat1000: 0,
            },
            Speed::Mbps10,
            false,
            cmd::HD_EN,
        ),
        (
            Partner {
                lpa: 0x40a1,
                stat1000: 0,
            },
            Speed::Mbps100,
            false,
            (1 << 2) | cmd::HD_EN,
        ),
    ];
    for (partner, speed, full, bits) in cases {
        let (mut nic, model) = setup_with(MAC_A, 16, |m| m.partner = Some(partner));
        let id = nic.start_phy(&mut CountingDelay::default()).unwrap();
        assert_eq!(id & 0xffff_fff0, mii::BCM54213PE_ID);
        // Auto-negotiation takes a few polls.
        assert_eq!(nic.poll_link().unwrap(), Link::Down);
        let mut link = Link::Down;
        for _ in 0..5 {
            link = nic.poll_link().unwrap();
        }
        assert_eq!(
            link,
            Link::Up {
                speed,
                full_duplex: full
            }
        );
        let c = model.borrow().r(reg::UMAC_CMD);
        assert_eq!(c & !(cmd::TX_EN | cmd::RX_EN), bits);
        assert_eq!(c & (cmd::TX_EN | cmd::RX_EN), cmd::TX_EN | cmd::RX_EN);
        assert_eq!(
            model.borrow().r(reg::EXT_RGMII_OOB_CTRL) & 0x1_0050,
            0x1_0050
        );
    }
    // No partner: link stays down.
    let (mut nic, _model) = setup_with(MAC_A, 16, |m| m.partner = None);
    nic.start_phy(&mut CountingDelay::default()).unwrap();
    for _ in 0..10 {
        assert_eq!(nic.poll_link().unwrap(), Link::Down);
    }
    assert_eq!(nic.send(&frame(0, 60)), Err(Error::LinkDown));
    // Partner with nothing in common.
    let (mut nic, _model) = setup_with(MAC_A, 16, |m| {
        m.partner = Some(Partner {
            lpa: 0x4001,
            stat1000: 0,
        })
    });
    nic.start_phy(&mut CountingDelay::default()).unwrap();
    let mut last = Ok(Link::Down);
    for _ in 0..10 {
        last = nic.poll_link();
    }
    assert_eq!(last, Err(Error::NoCommonMode));
}

#[test]
fn mdio_failures_are_typed_errors() {
    let (mut nic, _m) = setup_with(MAC_A, 16, |m| m.misbehave.no_phy = true);
    assert_eq!(
        nic.start_phy(&mut CountingDelay::default()),
        Err(Error::MdioReadFailed {
            phy: 1,
            reg: mii::PHYSID1
        })
    );
    let (mut nic, _m) = setup_with(MAC_A, 16, |m| m.misbehave.mdio_stuck = true);
    assert_eq!(nic.mdio_read(mii::BMSR), Err(Error::MdioTimeout));
    let (mut nic, _m) = setup_with(MAC_A, 16, |m| m.phy_address = 7);
    assert!(matches!(
        nic.start_phy(&mut CountingDelay::default()),
        Err(Error::MdioReadFailed { .. })
    ));
}

#[test]
fn frames_flow_both_ways_across_index_and_ring_wraparound() {
    let (mut nic, model) = up(MAC_A, 4);
    // TX consumer starts at 0xfff0, so the 16-bit indices wrap early; 70 000 frames
    // wrap the RX index too, and the 4-entry rings many times.
    for n in 0..70_000usize {
        let len = 14 + n % (MAX_FRAME - 13);
        let f = frame(n, len.max(14));
        nic.send(&f).unwrap();
        let mut sent = model.borrow_mut().wire_out.pop_front().expect("sent");
        // Short frames are padded to 60 bytes with zeros.
        assert!(sent.len() >= 60);
        assert!(sent[f.len()..].iter().all(|b| *b == 0));
        sent.truncate(f.len());
        assert_eq!(sent, f);
        assert!(model.borrow_mut().inject(&f));
        assert_eq!(recv(&mut nic).unwrap().as_ref(), Some(&f));
    }
    assert_eq!(recv(&mut nic).unwrap(), None);
    // Completions are taken back lazily (on the next send); collect the last one.
    assert_eq!(nic.reclaim_tx(), Ok(1));
    let s = nic.stats();
    assert_eq!(
        (s.rx_frames, s.tx_frames, s.tx_completed),
        (70_000, 70_000, 70_000)
    );
    assert_eq!(s.device_errors, 0);
    assert!(
        model.borrow().faults.is_empty(),
        "{:?}",
        model.borrow().faults
    );
}

#[test]
fn the_destination_filter_passes_broadcast_and_our_address_only() {
    let (mut nic, model) = up(MAC_A, 8);
    let mut f = frame(1, 60);
    f[0..6].copy_from_slice(&[0xff; 6]);
    assert!(model.borrow_mut().inject(&f));
    assert_eq!(recv(&mut nic).unwrap(), Some(f.clone()));
    f[0..6].copy_from_slice(&MAC_B);
    assert!(!model.borrow_mut().inject(&f), "someone else's frame");
    assert_eq!(model.borrow().rx_filtered, 1);
    assert_eq!(recv(&mut nic).unwrap(), None);
}

#[test]
fn rx_ring_full_makes_the_hardware_discard() {
    let (mut nic, model) = up(MAC_A, 8);
    for n in 0..8 {
        assert!(model.borrow_mut().inject(&frame(n, 100)));
    }
    assert!(!model.borrow_mut().inject(&frame(99, 100)), "ring full");
    for n in 0..8 {
        assert_eq!(recv(&mut nic).unwrap(), Some(frame(n, 100)));
    }
    assert!(model.borrow_mut().inject(&frame(100, 100)));
    assert_eq!(recv(&mut nic).unwrap(), Some(frame(100, 100)));
}

#[test]
fn error_bits_fragments_and_bad_lengths_are_dropped_and_counted() {
    use board_rpi4b::genet::desc;
    let (mut nic, model) = up(MAC_A, 16);
    model.borrow_mut().misbehave.rx_status = Some(desc::RX_CRC_ERROR);
    assert!(model.borrow_mut().inject(&frame(1, 80)));
    assert_eq!(recv(&mut nic), Err(Error::RxStatus(desc::RX_CRC_ERROR)));
    model.borrow_mut().misbehave.rx_status = Some(desc::RX_OV | desc::RX_RXER);
    assert!(model.borrow_mut().inject(&frame(2, 80)));
    assert_eq!(
        recv(&mut nic),
        Err(Error::RxStatus(desc::RX_OV | desc::RX_RXER))
    );
    model.borrow_mut().misbehave.rx_no_sop = true;
    assert!(model.borrow_mut().inject(&frame(3, 80)));
    assert!(matches!(recv(&mut nic), Err(Error::Fragmented(_))));
    model.borrow_mut().misbehave.rx_len = Some(4000); // beyond the 2048-byte buffer
    assert!(model.borrow_mut().inject(&frame(4, 80)));
    assert_eq!(recv(&mut nic), Err(Error::BadLength(4000)));
    model.borrow_mut().misbehave.rx_len = Some(1600); // fits the buffer, not a frame
    assert!(model.borrow_mut().inject(&frame(5, 80)));
    assert_eq!(recv(&mut nic), Err(Error::BadLength(1600)));
    model.borrow_mut().misbehave.rx_len = Some(5); // shorter than pad + header
    assert!(model.borrow_mut().inject(&frame(6, 80)));
    assert_eq!(recv(&mut nic), Err(Error::BadLength(5)));
    // Oversized frame from the wire: the MAC flags it (LG).
    let mut long = vec![0x55; 3000];
    long[..6].copy_from_slice(&MAC_A);
    assert!(model.borrow_mut().inject(&long));
    assert!(matches!(recv(&mut nic), Err(Error::RxStatus(s)) if s & desc::RX_LG != 0));
    // Every descriptor went back: the ring still takes 16 frames.
    for n in 0..16 {
        assert!(model.borrow_mut().inject(&frame(10 + n, 90)));
    }
    for n in 0..16 {
        assert_eq!(recv(&mut nic).unwrap(), Some(frame(10 + n, 90)));
    }
    let s = nic.stats();
    assert_eq!(s.rx_dropped, 7);
    assert_eq!(s.device_errors, 7);
    assert_eq!(s.rx_frames, 16);
}

#[test]
fn an_rx_producer_index_beyond_the_ring_is_resynchronised() {
    let (mut nic, model) = up(MAC_A, 16);
    model.borrow_mut().misbehave.rx_prod_jump = Some(500);
    assert!(model.borrow_mut().inject(&frame(1, 80)));
    assert!(matches!(
        recv(&mut nic),
        Err(Error::RxIndexOutOfRange { .. })
    ));
    assert_eq!(nic.stats().rx_dropped, 501);
    assert_eq!(recv(&mut nic).unwrap(), None);
    // The driver's consumer index now equals the hardware's producer index.
    let m = model.borrow();
    assert_eq!(
        m.r(reg::RDMA_CONS_INDEX),
        m.r(reg::RDMA_PROD_INDEX) & 0xffff
    );
}

#[test]
fn a_tx_consumer_index_beyond_the_frames_in_flight_is_refused() {
    let (mut nic, model) = up(MAC_A, 16);
    model.borrow_mut().misbehave.tx_cons_jump = Some(40);
    nic.send(&frame(1, 60)).unwrap();
    assert!(matches!(
        nic.reclaim_tx(),
        Err(Error::TxIndexOutOfRange { .. })
    ));
    // The driver never believes more than it sent: free descriptors stay within the ring.
    assert!(nic.tx_free() <= 16);
    assert!(nic.stats().device_errors >= 1);
}

#[test]
fn a_full_tx_ring_and_long_frames_are_refused() {
    let (mut nic, model) = up(MAC_A, 8);
    model.borrow_mut().misbehave.hold_tx = true;
    for n in 0..8 {
        nic.send(&frame(n, 60)).unwrap();
    }
    assert_eq!(nic.send(&frame(9, 60)), Err(Error::TxQueueFull));
    assert!(nic.transmit(Instant::ZERO).is_none());
    assert_eq!(
        nic.send(&vec![0; MAX_FRAME + 1]),
        Err(Error::FrameTooLong(MAX_FRAME + 1))
    );
    model.borrow_mut().misbehave.hold_tx = false;
    // Any TX producer write lets the model catch up; re-writing the same index is harmless.
    let p = model.borrow().r(reg::TDMA_PROD_INDEX);
    use board_rpi4b::hal::RegisterBlock;
    nic.device_side().0.write32(reg::TDMA_PROD_INDEX, p);
    assert_eq!(model.borrow().wire_out.len(), 8);
    assert_eq!(nic.tx_free(), 8);
}

#[test]
fn interrupts_are_acknowledged() {
    let (mut nic, model) = up(MAC_A, 16);
    nic.send(&frame(1, 60)).unwrap();
    assert!(model.borrow_mut().inject(&frame(2, 60)));
    let c = nic.handle_interrupt();
    assert!(c.rx && c.tx);
    let stat = model.borrow().r(reg::INTRL2_0_STAT);
    assert_eq!(stat & (irq::RXDMA_DONE | irq::TXDMA_DONE), 0);
    // Masked sources (MDIO done) are neither reported nor cleared.
    assert_ne!(stat & irq::MDIO_DONE, 0);
    assert_eq!(c.bits & irq::MDIO_DONE, 0);
    let c = nic.handle_interrupt();
    assert!(!c.rx && !c.tx);
}

#[test]
fn smoltcp_tokens_move_frames() {
    let (mut nic, model) = up(MAC_A, 16);
    let tx = nic.transmit(Instant::ZERO).unwrap();
    tx.consume(70, |b| b.copy_from_slice(&frame(7, 70)));
    assert_eq!(model.borrow_mut().wire_out.pop_front(), Some(frame(7, 70)));
    model.borrow_mut().misbehave.rx_status = Some(board_rpi4b::genet::desc::RX_CRC_ERROR);
    assert!(model.borrow_mut().inject(&frame(8, 90)));
    assert!(model.borrow_mut().inject(&frame(9, 90)));
    let (rx, _tx) = nic.receive(Instant::ZERO).unwrap();
    rx.consume(|f| assert_eq!(f, &frame(9, 90)[..]));
    assert!(nic.receive(Instant::ZERO).is_none());
    assert_eq!(nic.capabilities().max_transmission_unit, 1514);
}

fn iface(nic: &mut Nic, mac: [u8; 6], ip: [u8; 4]) -> Interface {
    let c = IfConfig::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    let mut i = Interface::new(c, nic, Instant::ZERO);
    i.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), 24))
            .unwrap()
    });
    i
}

/// Two smoltcp interfaces on two GENET drivers whose models are wired together: a TCP
/// connection carries 1 MiB each way, every byte intact and in order.
#[test]
fn two_smoltcp_stacks_talk_tcp_through_the_driver() {
    const N: usize = 1 << 20;
    let (mut a, ma) = up(MAC_A, 64);
    let (mut b, mb) = up(MAC_B, 64);
    let mut ia = iface(&mut a, MAC_A, [192, 168, 7, 1]);
    let mut ib = iface(&mut b, MAC_B, [192, 168, 7, 2]);
    let mk = || {
        tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        )
    };
    let mut sa = SocketSet::new(vec![]);
    let mut sb = SocketSet::new(vec![]);
    let ha = sa.add(mk());
    let hb = sb.add(mk());
    sb.get_mut::<tcp::Socket>(hb).listen(7000).unwrap();
    sa.get_mut::<tcp::Socket>(ha)
        .connect(ia.context(), (IpAddress::v4(192, 168, 7, 2), 7000), 49152)
        .unwrap();
    let data: Vec<u8> = (0..N).map(|i| (i * 13 + i / 509) as u8).collect();
    let (mut sent_a, mut sent_b, mut got_a, mut got_b) = (0, 0, Vec::new(), Vec::new());
    let mut now = Instant::ZERO;
    for _ in 0..200_000 {
        ia.poll(now, &mut a, &mut sa);
        ib.poll(now, &mut b, &mut sb);
        while let Some(f) = ma.borrow_mut().wire_out.pop_front() {
            mb.borrow_mut().inject(&f);
        }
        while let Some(f) = mb.borrow_mut().wire_out.pop_front() {
            ma.borrow_mut().inject(&f);
        }
        for (set, h, sent, got) in [
            (&mut sa, ha, &mut sent_a, &mut got_a),
            (&mut sb, hb, &mut sent_b, &mut got_b),
        ] {
            let s = set.get_mut::<tcp::Socket>(h);
            if s.can_send() && *sent < N {
                *sent += s.send_slice(&data[*sent..]).unwrap();
            }
            while s.can_recv() {
                s.recv(|d| {
                    got.extend_from_slice(d);
                    (d.len(), ())
                })
                .unwrap();
            }
        }
        if got_a.len() == N && got_b.len() == N {
            break;
        }
        now += smoltcp::time::Duration::from_millis(1);
    }
    assert_eq!(got_b.len(), N, "A->B");
    assert_eq!(got_a.len(), N, "B->A");
    assert!(
        got_a == data && got_b == data,
        "bytes arrive intact and in order"
    );
    assert!(a.stats().rx_frames > 700 && b.stats().rx_frames > 700);
    assert_eq!(a.stats().device_errors + b.stats().device_errors, 0);
    assert!(ma.borrow().faults.is_empty() && mb.borrow().faults.is_empty());
}

/// xorshift64*: a deterministic pseudo-random source for the chaos test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A controller that reports random producer/consumer indices, descriptor status words
/// and interrupt bits between every driver call: the driver returns typed errors, never
/// panics, never computes an access outside its DMA region, and never believes it has
/// more free TX descriptors than the ring holds.
#[test]
fn random_controller_garbage_never_panics() {
    let (mut nic, model) = up(MAC_A, 16);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut errors = 0u32;
    for step in 0..20_000u32 {
        {
            let mut m = model.borrow_mut();
            match rng.next() % 5 {
                0 => m.regs[reg::RDMA_PROD_INDEX / 4] = rng.next() as u32,
                1 => m.regs[reg::TDMA_CONS_INDEX / 4] = rng.next() as u32,
                2 => {
                    let d = (rng.next() % 256) as usize;
                    m.regs[(reg::RX_DESC_BASE + 12 * d) / 4] = rng.next() as u32;
                }
                3 => m.regs[reg::INTRL2_0_STAT / 4] = rng.next() as u32,
                _ => {
                    m.inject(&frame(step as usize, 60 + step as usize % 1400));
                }
            }
        }
        let mut buf = [0u8; MAX_FRAME];
        let results = [
            nic.receive_into(&mut buf).map(|_| ()),
            nic.reclaim_tx().map(|_| ()),
            nic.send(&frame(step as usize, 64)),
        ];
        let _ = nic.handle_interrupt();
        let _ = nic.receive(Instant::ZERO);
        for r in results {
            match r {
                Ok(()) => {}
                Err(Error::Dma(e)) => panic!("driver computed an access outside DMA: {e}"),
                Err(_) => errors += 1,
            }
        }
        assert!(nic.tx_free() <= 16);
    }
    assert!(errors > 1000, "garbage was noticed ({errors} errors)");
    assert!(nic.stats().device_errors > 0);
    // Whatever the controller did, every descriptor the driver programmed points
    // inside its own DMA region (the model's own faults are not the driver's here: it
    // was made to walk descriptors the driver never filled).
    let m = model.borrow();
    let size = cfg(MAC_A, 16).dma_size() as u64;
    for base in [reg::RX_DESC_BASE, reg::TX_DESC_BASE] {
        for d in 0..16 {
            let o = base + 12 * d;
            let addr = u64::from(m.r(o + 4)) | (u64::from(m.r(o + 8)) << 32);
            if base == reg::TX_DESC_BASE && addr == 0 {
                continue; // never used
            }
            assert!(
                (DMA_BASE..DMA_BASE + size).contains(&addr),
                "descriptor {d} at {addr:#x}"
            );
        }
    }
}
