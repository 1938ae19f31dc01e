//! Benchmark client: protected-call round trips, then notification round
//! trips (the baseline), and prints both rates and their ratio.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

use microkit::{debug_println, Channel, ChannelSet, Handler, Infallible, MessageInfo};
use pd_bench::{now_ns, per_second, LABEL_PING, ROUNDS, TO_SERVER};

const SERVER: Channel = Channel::new(TO_SERVER);

struct Client {
    left: u64,
    start: u64,
    ppc_rate: u64,
}

impl Handler for Client {
    type Error = Infallible;

    fn notified(&mut self, _channels: ChannelSet) -> Result<(), Infallible> {
        self.left -= 1;
        if self.left > 0 {
            SERVER.notify();
            return Ok(());
        }
        let ns = now_ns() - self.start;
        let rate = per_second(ROUNDS, ns);
        debug_println!(
            "pd-bench: {ROUNDS} notification round trips in {} us = {rate} round trips/s (baseline)",
            ns / 1000
        );
        debug_println!(
            "pd-bench: protected call / notification round-trip rate ratio = {}.{:02}",
            self.ppc_rate / rate.max(1),
            self.ppc_rate * 100 / rate.max(1) % 100
        );
        debug_println!("pd-bench: done");
        microkit::stop()
    }
}

fn init() -> Client {
    debug_println!("pd-bench: {ROUNDS} rounds of each kind");
    let start = now_ns();
    for i in 0..ROUNDS {
        microkit::set_mr(0, i);
        let reply = SERVER.pp_call(MessageInfo::new(LABEL_PING, 1));
        if reply.label() != 0 || microkit::get_mr(0) != i + 1 {
            panic!("bad reply {reply:?} to round {i}");
        }
    }
    let ns = now_ns() - start;
    let ppc_rate = per_second(ROUNDS, ns);
    debug_println!(
        "pd-bench: {ROUNDS} protected-call round trips in {} us = {ppc_rate} round trips/s",
        ns / 1000
    );
    let start = now_ns();
    SERVER.notify();
    Client {
        left: ROUNDS,
        start,
        ppc_rate,
    }
}

microkit::protection_domain!(init);
