//! A client PD: asks `hello-server` a few questions, then stops.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

use example_hello::{HelloError, Request, Response, CLIENT_TO_SERVER, MAX_MESSAGE, RPC_BUFFER};
use ipc::rpc::{CallError, Client};
use microkit::{debug_println, Channel, MemoryRegion, NullHandler};

const SERVER: Channel = Channel::new(CLIENT_TO_SERVER);

fn ask(
    client: &Client<MAX_MESSAGE>,
    req: Request,
) -> Result<Result<Response, HelloError>, CallError> {
    let answer = client.call(&req);
    debug_println!("{req:?} -> {answer:?}");
    answer
}

fn init() -> NullHandler {
    let buf = match MemoryRegion::by_name(RPC_BUFFER) {
        Ok(b) => b,
        Err(e) => panic!("{RPC_BUFFER}: {e}"),
    };
    let client = Client::new(SERVER, buf);
    let mut ok = true;
    ok &= ask(&client, Request::Add(2, 40)) == Ok(Ok(Response::Value(42)));
    ok &= ask(&client, Request::Add(u32::MAX, 1)) == Ok(Err(HelloError::Overflow));
    ok &= ask(&client, Request::Divide(7, 0)) == Ok(Err(HelloError::DivideByZero));
    SERVER.notify();
    ok &= matches!(
        ask(&client, Request::Stats),
        Ok(Ok(Response::Stats {
            requests: 3,
            notifications: 1
        }))
    );
    debug_println!(
        "{}",
        if ok {
            "all answers as expected"
        } else {
            "UNEXPECTED ANSWER"
        }
    );
    microkit::stop()
}

// seL4: the `setvar_vaddr` symbol of the map in system/example.system.
microkit::memory_region_symbol!(rpc_buffer, size = 0x1000);

microkit::protection_domain!(init);
