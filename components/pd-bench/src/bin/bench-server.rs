//! Benchmark server: answers each call with MR0 + 1 and returns each
//! notification.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

use microkit::{Channel, ChannelSet, Handler, Infallible, MessageInfo};
use pd_bench::{LABEL_PING, TO_CLIENT};

struct Server;

impl Handler for Server {
    type Error = Infallible;

    fn protected(&mut self, _ch: Channel, msg: MessageInfo) -> Result<MessageInfo, Infallible> {
        if msg.label() != LABEL_PING || msg.count() != 1 {
            return Ok(MessageInfo::new(1, 0));
        }
        microkit::set_mr(0, microkit::get_mr(0).wrapping_add(1));
        Ok(MessageInfo::new(0, 1))
    }

    fn notified(&mut self, _channels: ChannelSet) -> Result<(), Infallible> {
        Channel::new(TO_CLIENT).notify();
        Ok(())
    }
}

fn init() -> Server {
    Server
}

microkit::protection_domain!(init);
