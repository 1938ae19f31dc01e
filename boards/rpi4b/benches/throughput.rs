//! Per-frame cost of the GENET driver (send + receive through the register-level model
//! of the tests), against a baseline measured in the same run: the same data movement
//! (four frame copies and one allocation per frame) without descriptors, indices or
//! checks. The ratio is the price of the driver's ring protocol and checks on top of
//! bare copying (the model's register file accesses included).

#[path = "../tests/model/mod.rs"]
mod model;

use board_rpi4b::genet::{Config, Delay, Genet, Link, MAX_FRAME};
use model::{Model, ModelRegs, SharedDma};
use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

struct NoDelay;
impl Delay for NoDelay {
    fn delay_us(&mut self, _: u32) {}
}

fn driver(frames: usize, len: usize) -> Duration {
    let cfg = Config {
        mac: [2, 0, 0, 0, 0, 1],
        phy_address: 1,
        ring_len: 256,
    };
    let dma = SharedDma::new(cfg.dma_size(), 0x2000_0000);
    let model = Rc::new(RefCell::new(Model::new(&dma)));
    let mut nic = Genet::new(ModelRegs(model.clone()), dma, cfg, &mut NoDelay).expect("init");
    nic.start_phy(&mut NoDelay).expect("phy");
    while nic.poll_link().expect("link") == Link::Down {}
    let f = vec![0x5a; len];
    let mut buf = [0u8; MAX_FRAME];
    let start = Instant::now();
    for _ in 0..frames {
        nic.send(black_box(&f)).expect("send");
        let out = model.borrow_mut().wire_out.pop_front().expect("sent");
        model.borrow_mut().inject(&out);
        let n = nic.receive_into(&mut buf).expect("receive").expect("frame");
        black_box(&buf[..n]);
    }
    start.elapsed()
}

fn baseline(frames: usize, len: usize) -> Duration {
    let f = vec![0x5a; len];
    let mut tx_dma = vec![0u8; 2048];
    let mut rx_dma = vec![0u8; 2048];
    let mut buf = [0u8; MAX_FRAME];
    let start = Instant::now();
    for _ in 0..frames {
        tx_dma[..len].copy_from_slice(black_box(&f));
        let out = black_box(&tx_dma[..len]).to_vec();
        rx_dma[2..2 + len].copy_from_slice(&out);
        buf[..len].copy_from_slice(black_box(&rx_dma[2..2 + len]));
        black_box(&buf[..len]);
    }
    start.elapsed()
}

fn main() {
    println!("GENET driver, frames sent and received through the register-level model:");
    for (len, frames) in [(64usize, 200_000usize), (1514, 100_000)] {
        let d = driver(frames, len);
        let b = baseline(frames, len);
        let rate = |t: Duration| frames as f64 / t.as_secs_f64();
        println!(
            "  {len:4}-byte frames: driver+model {:>10.0} frames/s, copies only {:>10.0} frames/s, ratio {:.2}",
            rate(d),
            rate(b),
            d.as_secs_f64() / b.as_secs_f64()
        );
    }
}
