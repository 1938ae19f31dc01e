//! The virtio-net driver against a register-level device model (tests/model).

mod model;

use board_qemu_virt_aarch64::hal::RegisterBlock;
use board_qemu_virt_aarch64::virtio_net::{
    self, feature, probe, status, Error, Transport, VirtioNet, DMA_SIZE, MAX_FRAME,
};
use model::{Model, ModelRegs, SharedDma};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use std::cell::RefCell;
use std::rc::Rc;

const MAC_A: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const MAC_B: [u8; 6] = [0x52, 0x54, 0x00, 0x65, 0x43, 0x21];
const DMA_BASE: u64 = 0x4800_0000;

type Nic = VirtioNet<ModelRegs, SharedDma>;

fn setup_with(version: u32, mac: [u8; 6], f: impl FnOnce(&mut Model)) -> (Nic, Rc<RefCell<Model>>) {
    let dma = SharedDma::new(DMA_SIZE, DMA_BASE);
    let mut m = Model::new(version, &dma, mac);
    f(&mut m);
    let model = Rc::new(RefCell::new(m));
    let nic = VirtioNet::new(ModelRegs(model.clone()), dma).expect("driver init");
    (nic, model)
}

fn setup(version: u32) -> (Nic, Rc<RefCell<Model>>) {
    setup_with(version, MAC_A, |_| {})
}

fn frame(n: usize, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&MAC_A);
    f[6..12].copy_from_slice(&MAC_B);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental ethertype
    for (i, b) in f[14..].iter_mut().enumerate() {
        *b = (n.wrapping_mul(31).wrapping_add(i)) as u8;
    }
    f
}

fn recv(nic: &mut Nic) -> Result<Option<Vec<u8>>, Error> {
    let mut buf = [0u8; MAX_FRAME];
    Ok(nic.receive_into(&mut buf)?.map(|n| buf[..n].to_vec()))
}

#[test]
fn probe_identifies_slots() {
    let dma = SharedDma::new(DMA_SIZE, DMA_BASE);
    let model = Rc::new(RefCell::new(Model::new(2, &dma, MAC_A)));
    let regs = ModelRegs(model.clone());
    assert_eq!(probe(&regs), Ok(Transport::Modern));
    model.borrow_mut().version = 1;
    assert_eq!(probe(&regs), Ok(Transport::Legacy));
    model.borrow_mut().version = 3;
    assert_eq!(probe(&regs), Err(Error::UnsupportedVersion(3)));
    model.borrow_mut().version = 2;
    model.borrow_mut().device_id = 0;
    assert_eq!(probe(&regs), Err(Error::NoDevice));
    model.borrow_mut().device_id = 2;
    assert_eq!(probe(&regs), Err(Error::NotANetworkDevice(2)));
    model.borrow_mut().magic = 0;
    assert_eq!(probe(&regs), Err(Error::BadMagic(0)));
    // An empty slot refuses the driver.
    model.borrow_mut().magic = virtio_net::MAGIC;
    model.borrow_mut().device_id = 0;
    let r = VirtioNet::new(regs, dma);
    assert_eq!(r.err(), Some(Error::NoDevice));
}

#[test]
fn modern_init_negotiates_and_reads_mac() {
    let (nic, model) = setup(2);
    let m = model.borrow();
    assert_eq!(nic.transport(), Transport::Modern);
    assert_eq!(nic.mac_address(), MAC_A);
    assert_eq!(m.driver_features, feature::VERSION_1 | feature::NET_F_MAC);
    assert_eq!(
        m.status,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK
    );
    assert_eq!(nic.queue_sizes(), (32, 32));
    assert!(m.queues.iter().all(|q| q.ready && q.num == 32));
    assert_eq!(m.queues[0].desc, DMA_BASE);
    assert_eq!(m.queues[1].desc, DMA_BASE + 0x2000);
    drop(m);
    assert_eq!(
        model.borrow_mut().rx_available(),
        32,
        "all receive buffers posted"
    );
    assert!(model.borrow().faults.is_empty());
}

#[test]
fn legacy_init_uses_pfn_and_any_layout() {
    let (mut nic, model) = setup(1);
    assert_eq!(nic.transport(), Transport::Legacy);
    {
        let m = model.borrow();
        assert_eq!(m.driver_features, feature::NET_F_MAC | feature::ANY_LAYOUT);
        assert_eq!(m.page_size, 4096);
        assert_eq!(u64::from(m.queues[0].pfn) * 4096, DMA_BASE);
        assert_eq!(u64::from(m.queues[1].pfn) * 4096, DMA_BASE + 0x2000);
        assert_eq!(m.status & status::FEATURES_OK, 0);
    }
    // Frames both ways with the 10-byte legacy header.
    nic.send(&frame(1, 60)).unwrap();
    assert_eq!(model.borrow_mut().wire_out.pop_front(), Some(frame(1, 60)));
    assert!(model.borrow_mut().inject(&frame(2, 100)));
    assert_eq!(recv(&mut nic).unwrap(), Some(frame(2, 100)));
    assert!(model.borrow().faults.is_empty());
}

#[test]
fn missing_version_1_or_rejected_features_fail_the_device() {
    let dma = SharedDma::new(DMA_SIZE, DMA_BASE);
    let mut m = Model::new(2, &dma, MAC_A);
    m.offered &= !feature::VERSION_1;
    let model = Rc::new(RefCell::new(m));
    let r = VirtioNet::new(ModelRegs(model.clone()), dma.clone());
    assert_eq!(r.err(), Some(Error::MissingFeature(feature::VERSION_1)));
    assert_eq!(model.borrow().status, status::FAILED);

    let mut m = Model::new(2, &dma, MAC_A);
    m.misbehave.reject_features = true;
    let model = Rc::new(RefCell::new(m));
    let r = VirtioNet::new(ModelRegs(model.clone()), dma.clone());
    assert_eq!(r.err(), Some(Error::FeaturesRejected));
    assert_eq!(model.borrow().status, status::FAILED);

    let small = SharedDma::new(DMA_SIZE - 1, DMA_BASE);
    let model = Rc::new(RefCell::new(Model::new(2, &small, MAC_A)));
    let r = VirtioNet::new(ModelRegs(model), small);
    assert_eq!(r.err(), Some(Error::DmaRegionUnsuitable));
}

#[test]
fn frames_flow_both_ways_across_index_wraparound() {
    // Small queues so the rings wrap many times, and (modern) enough frames for the
    // 16-bit ring indices to wrap; the index logic is the same for both transports.
    for (version, frames) in [(1, 3_000usize), (2, 70_000)] {
        let (mut nic, model) = setup_with(version, MAC_A, |m| {
            for q in &mut m.queues {
                q.num_max = 4;
            }
        });
        assert_eq!(nic.queue_sizes(), (4, 4));
        for n in 0..frames {
            let len = 60 + n % (MAX_FRAME - 59);
            let f = frame(n, len);
            nic.send(&f).unwrap();
            assert_eq!(model.borrow_mut().wire_out.pop_front().as_ref(), Some(&f));
            assert!(model.borrow_mut().inject(&f), "receive buffer reposted");
            assert_eq!(recv(&mut nic).unwrap().as_ref(), Some(&f));
        }
        assert_eq!(recv(&mut nic).unwrap(), None);
        let s = nic.stats();
        assert_eq!((s.rx_frames, s.tx_frames), (frames as u64, frames as u64));
        assert_eq!(s.device_errors, 0);
        assert!(
            model.borrow().faults.is_empty(),
            "{:?}",
            model.borrow().faults
        );
    }
}

#[test]
fn interrupts_are_acknowledged() {
    let (mut nic, model) = setup(2);
    assert!(model.borrow_mut().inject(&frame(0, 64)));
    model.borrow_mut().int_status |= 2;
    let cause = nic.handle_interrupt();
    assert!(cause.used_buffer && cause.config_change);
    assert_eq!(model.borrow().int_status, 0);
    let cause = nic.handle_interrupt();
    assert!(!cause.used_buffer && !cause.config_change);
    model.borrow_mut().status |= status::DEVICE_NEEDS_RESET;
    assert_eq!(nic.check_device(), Err(Error::DeviceNeedsReset));
}

#[test]
fn bad_receive_ids_and_lengths_are_dropped_and_counted() {
    let (mut nic, model) = setup(2);
    // Descriptor id beyond the queue.
    model.borrow_mut().misbehave.rx_id = Some(1000);
    assert!(model.borrow_mut().inject(&frame(1, 80)));
    assert_eq!(recv(&mut nic), Err(Error::BadDescriptorId(1000)));
    // Length larger than the buffer.
    model.borrow_mut().misbehave.rx_len = Some(5000);
    assert!(model.borrow_mut().inject(&frame(2, 80)));
    assert_eq!(recv(&mut nic), Err(Error::BadLength(5000)));
    // Length shorter than the header.
    model.borrow_mut().misbehave.rx_len = Some(3);
    assert!(model.borrow_mut().inject(&frame(3, 80)));
    assert_eq!(recv(&mut nic), Err(Error::BadLength(3)));
    // Length that would make a frame beyond MAX_FRAME (fits the buffer).
    model.borrow_mut().misbehave.rx_len = Some(2000);
    assert!(model.borrow_mut().inject(&frame(3, 80)));
    assert_eq!(recv(&mut nic), Err(Error::BadLength(2000)));
    // Good frames still flow, and the buffers of bad lengths were reposted
    // (32 posted - 1 lost to the bogus id, which the device still holds).
    assert!(model.borrow_mut().inject(&frame(4, 80)));
    assert_eq!(recv(&mut nic).unwrap(), Some(frame(4, 80)));
    assert_eq!(model.borrow_mut().rx_available(), 31);
    let s = nic.stats();
    assert_eq!(s.rx_dropped, 4);
    assert_eq!(s.device_errors, 4);
    assert_eq!(s.rx_frames, 1);
    assert_eq!(s.last_error, Some(Error::BadLength(2000)));
}

#[test]
fn a_used_index_beyond_the_buffers_in_flight_is_refused() {
    let (mut nic, model) = setup(2);
    model.borrow_mut().misbehave.rx_used_jump = Some(100);
    assert!(model.borrow_mut().inject(&frame(1, 80)));
    for _ in 0..3 {
        assert!(matches!(
            recv(&mut nic),
            Err(Error::UsedIndexOutOfRange { used: 101, seen: 0 })
        ));
    }
    // smoltcp sees no frame, and nothing panics.
    assert!(nic.receive(Instant::ZERO).is_none());
    assert!(nic.stats().device_errors >= 4);
}

#[test]
fn transmit_completions_are_checked() {
    let (mut nic, model) = setup(2);
    model.borrow_mut().misbehave.tx_id = Some(77);
    nic.send(&frame(1, 60)).unwrap();
    assert_eq!(nic.reclaim_tx(), Err(Error::BadDescriptorId(77)));
    // The buffer the device did not return stays out; the others keep working.
    for n in 0..100 {
        nic.send(&frame(n, 60)).unwrap();
    }
    assert_eq!(nic.tx_free(), 31);
    assert_eq!(model.borrow().wire_out.len(), 101);
    // A completion naming a descriptor the driver owns (not in flight) is refused and
    // frees nothing: the buffer actually sent stays with the device.
    model.borrow_mut().misbehave.tx_id = Some(0);
    nic.send(&frame(5, 60)).unwrap();
    assert_eq!(nic.reclaim_tx(), Err(Error::BadDescriptorId(0)));
    assert_eq!(nic.tx_free(), 30);
    assert_eq!(nic.stats().device_errors, 2);
}

#[test]
fn a_full_transmit_queue_and_long_frames_are_refused() {
    let (mut nic, model) = setup(2);
    model.borrow_mut().misbehave.hold_tx = true;
    for n in 0..32 {
        nic.send(&frame(n, 60)).unwrap();
    }
    assert_eq!(nic.send(&frame(99, 60)), Err(Error::TxQueueFull));
    assert!(nic.transmit(Instant::ZERO).is_none());
    assert_eq!(
        nic.send(&vec![0; MAX_FRAME + 1]),
        Err(Error::FrameTooLong(MAX_FRAME + 1))
    );
    assert_eq!(nic.stats().tx_refused, 2);
    // Once the device catches up, the queue drains and sending resumes.
    model.borrow_mut().misbehave.hold_tx = false;
    nic.device_side()
        .0
        .write32(virtio_net::reg::QUEUE_NOTIFY, 1);
    assert_eq!(model.borrow().wire_out.len(), 32);
    assert_eq!(nic.tx_free(), 32);
    assert!(nic.transmit(Instant::ZERO).is_some());
}

#[test]
fn smoltcp_tokens_move_frames() {
    let (mut nic, model) = setup(2);
    let tx = nic.transmit(Instant::ZERO).unwrap();
    tx.consume(60, |buf| buf.copy_from_slice(&frame(7, 60)));
    assert_eq!(model.borrow_mut().wire_out.pop_front(), Some(frame(7, 60)));
    assert!(model.borrow_mut().inject(&frame(8, 90)));
    let (rx, _tx) = nic.receive(Instant::ZERO).unwrap();
    rx.consume(|f| assert_eq!(f, &frame(8, 90)[..]));
    // A bad entry in front of a good one is skipped by receive().
    model.borrow_mut().misbehave.rx_len = Some(9999);
    assert!(model.borrow_mut().inject(&frame(9, 90)));
    assert!(model.borrow_mut().inject(&frame(10, 90)));
    let (rx, _tx) = nic.receive(Instant::ZERO).unwrap();
    rx.consume(|f| assert_eq!(f, &frame(10, 90)[..]));
    let caps = nic.capabilities();
    assert_eq!(caps.max_transmission_unit, 1514);
}

fn iface(nic: &mut Nic, mac: [u8; 6], ip: [u8; 4]) -> Interface {
    let cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    let mut i = Interface::new(cfg, nic, Instant::ZERO);
    i.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), 24))
            .unwrap()
    });
    i
}

/// Two smoltcp interfaces, each on a driver whose device model is wired to the other's:
/// a TCP connection carries 1 MiB each way and every byte arrives in order.
#[test]
fn two_smoltcp_stacks_talk_tcp_through_the_driver() {
    const N: usize = 1 << 20;
    for version in [1, 2] {
        let (mut a, ma) = setup_with(version, MAC_A, |_| {});
        let (mut b, mb) = setup_with(version, MAC_B, |_| {});
        let mut ia = iface(&mut a, MAC_A, [10, 0, 0, 1]);
        let mut ib = iface(&mut b, MAC_B, [10, 0, 0, 2]);
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
            .connect(ia.context(), (IpAddress::v4(10, 0, 0, 2), 7000), 49152)
            .unwrap();
        let data: Vec<u8> = (0..N).map(|i| (i * 7 + i / 251) as u8).collect();
        let (mut sent_a, mut sent_b, mut got_a, mut got_b) = (0, 0, Vec::new(), Vec::new());
        let mut now = Instant::ZERO;
        for _ in 0..200_000 {
            ia.poll(now, &mut a, &mut sa);
            ib.poll(now, &mut b, &mut sb);
            // The wire: whatever one device sent arrives at the other, in order; a frame
            // the receiver has no buffer for waits on the wire (flow control) rather than
            // being lost. smoltcp >= 0.13 sends a whole window's worth of segments in one
            // poll, more than the receive ring holds, and TCP recovery from that many
            // losses (RTO backoff) would take this test far longer than its budget.
            for (from, to) in [(&ma, &mb), (&mb, &ma)] {
                loop {
                    let Some(f) = from.borrow_mut().wire_out.pop_front() else {
                        break;
                    };
                    if !to.borrow_mut().inject(&f) {
                        from.borrow_mut().wire_out.push_front(f);
                        break;
                    }
                }
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
        assert_eq!(got_b.len(), N, "A->B (version {version})");
        assert_eq!(got_a.len(), N, "B->A (version {version})");
        assert!(
            got_b == data && got_a == data,
            "bytes arrive intact and in order"
        );
        let (sa_, sb_) = (a.stats(), b.stats());
        assert!(sa_.rx_frames > 700 && sb_.rx_frames > 700);
        assert_eq!(sa_.device_errors + sb_.device_errors, 0);
        assert!(ma.borrow().faults.is_empty() && mb.borrow().faults.is_empty());
    }
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

/// A device that writes garbage into the used rings and the interrupt status between
/// every driver call: the driver returns typed errors, never panics, never computes an
/// access outside its DMA region, and never holds more buffers than it has.
#[test]
fn random_device_garbage_never_panics() {
    for version in [1, 2] {
        let (mut nic, model) = setup(version);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ version as u64);
        let mut errors = 0u32;
        for step in 0..20_000u32 {
            {
                let mut m = model.borrow_mut();
                let mem = m.mem.clone();
                let mut mem = mem.borrow_mut();
                // Used rings: RX at 0x1000, TX at 0x3000 (flags, idx, 32 entries).
                for base in [0x1000usize, 0x3000] {
                    for _ in 0..(rng.next() % 4) {
                        let off = base + (rng.next() as usize % (4 + 8 * 32));
                        mem[off] = rng.next() as u8;
                    }
                }
                drop(mem);
                m.int_status = rng.next() as u32;
                if step % 7 == 0 {
                    m.inject(&frame(step as usize, 60 + step as usize % 1400));
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
            assert!(nic.tx_free() <= 32);
        }
        assert!(errors > 1000, "garbage was noticed ({errors} errors)");
        assert!(nic.stats().device_errors > 0);
    }
}
