//! Per-frame cost of the virtio-net driver (send + receive through the device model of
//! the tests), against a baseline measured in the same run: the same data movement (four
//! frame copies and one allocation per frame, what driver and model copy) without any
//! ring bookkeeping. The ratio is the price of the driver's checks and ring protocol
//! on top of bare copying.

#[path = "../tests/model/mod.rs"]
mod model;

use board_qemu_virt_aarch64::virtio_net::{VirtioNet, DMA_SIZE, MAX_FRAME};
use model::{Model, ModelRegs, SharedDma};
use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn driver(frames: usize, len: usize) -> Duration {
    let dma = SharedDma::new(DMA_SIZE, 0x4800_0000);
    let model = Rc::new(RefCell::new(Model::new(2, &dma, [2, 0, 0, 0, 0, 1])));
    let mut nic = VirtioNet::new(ModelRegs(model.clone()), dma).expect("init");
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
        tx_dma[12..12 + len].copy_from_slice(black_box(&f));
        let out = black_box(&tx_dma[12..12 + len]).to_vec();
        rx_dma[12..12 + len].copy_from_slice(&out);
        buf[..len].copy_from_slice(black_box(&rx_dma[12..12 + len]));
        black_box(&buf[..len]);
    }
    start.elapsed()
}

fn main() {
    println!("virtio-net driver, frames sent and received through the device model:");
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
