//! A passive server PD: answers typed requests from `hello-client`.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

use example_hello::{Counter, HelloError, Request, Response, MAX_MESSAGE, RPC_BUFFER};
use ipc::rpc::Server;
use microkit::{
    debug_println, Channel, ChannelSet, Handler, Infallible, MemoryRegion, MessageInfo,
};

struct HelloServer {
    rpc: Server<MAX_MESSAGE>,
    counter: Counter,
}

impl Handler for HelloServer {
    type Error = Infallible;

    fn protected(
        &mut self,
        _channel: Channel,
        msg_info: MessageInfo,
    ) -> Result<MessageInfo, Infallible> {
        let counter = &mut self.counter;
        Ok(self
            .rpc
            .handle(msg_info, |req: Request| -> Result<Response, HelloError> {
                counter.answer(req)
            }))
    }

    fn notified(&mut self, channels: ChannelSet) -> Result<(), Infallible> {
        self.counter.notifications += 1;
        debug_println!("notified on {}", channels.display());
        Ok(())
    }
}

fn init() -> HelloServer {
    let buf = match MemoryRegion::by_name(RPC_BUFFER) {
        Ok(b) => b,
        Err(e) => panic!("{RPC_BUFFER}: {e}"),
    };
    debug_println!(
        "{} up (passive: {}), buffer of {} bytes",
        microkit::pd_name(),
        microkit::pd_is_passive(),
        buf.size()
    );
    HelloServer {
        rpc: Server::new(buf),
        counter: Counter::default(),
    }
}

// seL4: the `setvar_vaddr` symbol of the map in system/example.system.
microkit::memory_region_symbol!(rpc_buffer, size = 0x1000);

microkit::protection_domain!(init);
