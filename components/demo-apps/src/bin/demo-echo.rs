//! Node B's echo service: `Sec_bind` on TCP and UDP port 7 (vetted with
//! its credential), listen, accept, echo; prints who connected and how the
//! data was protected. One event loop over non-blocking sockets, waiting
//! for the network server's notification when nothing is ready.
//!
//! The same source is a Linux process on the host backend and a Microkit PD
//! on seL4 (`aarch64-unknown-none`, `no_std` with `alloc`).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use demo_apps::*;
use microkit::debug_println;
use secsock::{
    Endpoint, Error, PdTransport, ProtectionRequest, Proto, SecSock, SockOptValue, Socket,
};

type Lib = SecSock<PdTransport>;

// The message buffer shared with the network server (system/node-b.system).
microkit::memory_region_symbol!(buf_0, size = 0x20000);

fn bind(net: &mut Lib, proto: Proto) -> Result<Socket, Error> {
    let s = net.socket(proto)?;
    let local = Endpoint {
        addr: None,
        port: Some(ECHO_PORT),
    };
    let ctx = secsock::template(local, Endpoint::ANY, ProtectionRequest::default());
    let bound = net.bind(s, local, &[ECHO_CRED], &ctx)?;
    net.setsockopt(s, SockOptValue::NonBlocking(true))?;
    debug_println!("Sec_bind {} {bound}: ok", proto.name());
    Ok(s)
}

/// Sends all of `data` on a non-blocking socket, waiting when it is full.
fn send_all(net: &mut Lib, s: Socket, mut data: &[u8]) -> Result<(), Error> {
    while !data.is_empty() {
        match net.send(s, data) {
            Ok(n) => data = &data[n..],
            Err(Error::WouldBlock) => net.wait(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn serve(net: &mut Lib) -> Result<(), Error> {
    let tcp = bind(net, Proto::Tcp)?;
    net.listen(tcp, 4)?;
    let udp = bind(net, Proto::Udp)?;
    debug_println!("echo: listening on TCP and UDP port {ECHO_PORT}");
    let mut conns: Vec<Socket> = Vec::new();
    loop {
        let mut progress = false;
        match net.accept(tcp) {
            Ok((c, peer)) => {
                progress = true;
                net.setsockopt(c, SockOptValue::NonBlocking(true))?;
                let key = net
                    .remote_key(c)
                    .map(|k| short_key(&k))
                    .unwrap_or_else(|e| format!("({e})"));
                let prot = match net.getsockopt(c, secsock::SockOpt::Protection) {
                    Ok(SockOptValue::Protection(p)) => describe(&p),
                    other => format!("{other:?}"),
                };
                debug_println!("accepted TCP from {peer}, peer key {key}: {prot}");
                conns.push(c);
            }
            Err(Error::WouldBlock) => {}
            Err(e) => debug_println!("accept: {e} (why: {:?})", net.why().ok().flatten()),
        }
        let mut closed = Vec::new();
        for &c in &conns {
            match net.recv(c, 4096) {
                Ok(r) if r.data.is_empty() => {
                    closed.push(c);
                    progress = true;
                }
                Ok(r) => {
                    progress = true;
                    debug_println!(
                        "TCP {} bytes from {} ({})",
                        r.data.len(),
                        r.from,
                        describe_inbound(&r.protection)
                    );
                    if let Err(e) = send_all(net, c, &r.data) {
                        debug_println!("send: {e}");
                        closed.push(c);
                    }
                }
                Err(Error::WouldBlock) => {}
                Err(e) => {
                    debug_println!("recv: {e}");
                    closed.push(c);
                }
            }
        }
        for c in closed {
            conns.retain(|&x| x != c);
            let _ = net.close(c);
            debug_println!("TCP connection closed");
        }
        match net.recvfrom(udp, 4096) {
            Ok(r) => {
                progress = true;
                debug_println!(
                    "UDP {} bytes from {} ({})",
                    r.data.len(),
                    r.from,
                    describe_inbound(&r.protection)
                );
                let ctx = secsock::template(
                    Endpoint {
                        addr: None,
                        port: Some(ECHO_PORT),
                    },
                    r.from,
                    ProtectionRequest::default(),
                );
                if let Err(e) = net.sendto(udp, &r.data, r.from, &[ECHO_CRED], &ctx) {
                    debug_println!(
                        "sendto {}: {e} (why: {:?})",
                        r.from,
                        net.why().ok().flatten()
                    );
                }
            }
            Err(Error::WouldBlock) => {}
            Err(e) => debug_println!("recvfrom: {e}"),
        }
        if !progress {
            net.wait();
        }
    }
}

fn init() -> microkit::NullHandler {
    match SecSock::pd() {
        Ok(mut net) => {
            if let Err(e) = serve(&mut net) {
                let why = net
                    .why()
                    .ok()
                    .flatten()
                    .map(|w| w.to_string())
                    .unwrap_or_default();
                debug_println!("echo: {e} (errno {}); why: {why}", e.errno());
            }
        }
        Err(e) => debug_println!("echo: no network server channel: {e}"),
    }
    microkit::stop()
}

microkit::protection_domain!(init, stack_size = STACK_SIZE, heap_size = HEAP_SIZE);
