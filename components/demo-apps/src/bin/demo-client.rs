//! Node A's demo applications, one image for three PDs; `microkit::pd_name()`
//! picks the behaviour:
//!
//! - `client`: connects over TCP to the echo service on node B with its
//!   credential, sends a message, reads the echo and prints how the
//!   connection is protected and who the peer is; then a UDP
//!   `Sec_sendto`/`Sec_recvfrom` round trip.
//! - `intruder`: tries with a forged credential and prints the refusal.
//! - `lowball`: asks for level `use`, below its floor `require`, and prints
//!   the refusal.
//!
//! Each prints one `RESULT:` line (`ci/demo.sh` checks them) and stops.
//!
//! The same source is a Linux process on the host backend and a Microkit PD
//! on seL4 (`aarch64-unknown-none`, `no_std` with `alloc`).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;
use demo_apps::*;
use microkit::debug_println;
use secsock::{
    Endpoint, Error, Level, PdTransport, ProtectionRequest, Proto, SecSock, SockOpt, SockOptValue,
};

// The message buffer shared with the network server (system/node-a.system):
// `buf_0`; `client` also maps `buf_1`, shared with the policy repository.
microkit::memory_region_symbol!(buf_0, size = 0x20000);
microkit::memory_region_symbol!(buf_1, size = 0x20000);

type Lib = SecSock<PdTransport>;

/// Connects, retrying while node B is not up yet (a reset or no answer).
fn connect_echo(
    net: &mut Lib,
    cred: &str,
    protection: ProtectionRequest,
) -> Result<secsock::Socket, Error> {
    let start = now();
    loop {
        let s = net.socket(Proto::Tcp)?;
        let ctx = secsock::template(Endpoint::ANY, ECHO, protection);
        match net.connect(s, ECHO, &[cred], &ctx) {
            Ok(c) => {
                debug_println!(
                    "connected from {} to {ECHO}: {}",
                    c.local,
                    describe(&c.protection)
                );
                return Ok(s);
            }
            Err(e @ (Error::ConnectionRefused | Error::TimedOut))
                if now() - start < Duration::from_secs(20) =>
            {
                debug_println!("connect: {e}; retrying (is node B up?)");
                let _ = net.close(s);
                pause(Duration::from_millis(300));
            }
            Err(e) => {
                let _ = net.close(s);
                return Err(e);
            }
        }
    }
}

fn client(net: &mut Lib) -> Result<(), String> {
    let e = |what: &'static str| move |err: Error| format!("{what}: {err} (errno {})", err.errno());
    let s =
        connect_echo(net, CLIENT_CRED, ProtectionRequest::default()).map_err(e("Sec_connect"))?;
    match net
        .getsockopt(s, SockOpt::Protection)
        .map_err(e("Sec_getsockopt"))?
    {
        SockOptValue::Protection(p) => debug_println!("Sec_getsockopt: {}", describe(&p)),
        other => debug_println!("Sec_getsockopt: {other:?}"),
    }
    let key = net.remote_key(s).map_err(e("Sec_getremoteKey"))?;
    debug_println!("Sec_getremoteKey: peer is {}", short_key(&key));
    let creds = net
        .remote_credentials(s)
        .map_err(e("Sec_getremoteCredentials"))?;
    for line in describe_credentials(&creds) {
        debug_println!("Sec_getremoteCredentials: {line}");
    }
    let msg = b"hello node B, over ESP";
    net.send_all(s, msg).map_err(e("Sec_send"))?;
    let mut echo = Vec::new();
    let mut how = None;
    while echo.len() < msg.len() {
        let r = net.recv(s, 4096).map_err(e("Sec_recv"))?;
        if r.data.is_empty() {
            break;
        }
        echo.extend_from_slice(&r.data);
        how = Some(r.protection);
    }
    let how = how.map(|h| describe_inbound(&h)).unwrap_or_default();
    debug_println!("TCP echo: {:?} ({how})", String::from_utf8_lossy(&echo));
    net.close(s).map_err(e("Sec_close"))?;
    if echo != msg {
        return Err(format!("TCP echo mismatch: {echo:?}"));
    }
    if !how.starts_with("ESP") {
        return Err(format!("TCP echo not protected: {how}"));
    }

    let u = net.socket(Proto::Udp).map_err(e("Sec_socket"))?;
    net.setsockopt(u, SockOptValue::RecvTimeout(3000))
        .map_err(e("Sec_setsockopt"))?;
    let ctx = secsock::template(Endpoint::ANY, ECHO, ProtectionRequest::default());
    let dgram = b"a datagram for node B";
    let mut reply = None;
    for _ in 0..5 {
        net.sendto(u, dgram, ECHO, &[CLIENT_CRED], &ctx)
            .map_err(e("Sec_sendto"))?;
        match net.recvfrom(u, 4096) {
            Ok(r) => {
                reply = Some(r);
                break;
            }
            Err(Error::TimedOut) => debug_println!("Sec_recvfrom: timed out, sending again"),
            Err(err) => return Err(e("Sec_recvfrom")(err)),
        }
    }
    let r = reply.ok_or("no UDP echo")?;
    debug_println!(
        "UDP echo from {}: {:?} ({})",
        r.from,
        String::from_utf8_lossy(&r.data),
        describe_inbound(&r.protection)
    );
    net.close(u).map_err(e("Sec_close"))?;
    if r.data != dgram || r.protection.spi.is_none() {
        return Err("UDP echo wrong or unprotected".into());
    }
    Ok(())
}

/// Expects a refusal with `want`, prints why.
fn refused(
    net: &mut Lib,
    cred: &str,
    protection: ProtectionRequest,
    want: Error,
) -> Result<(), String> {
    match connect_echo(net, cred, protection) {
        Ok(_) => Err("connected, but should have been refused".into()),
        Err(err) => {
            let why = net.why().map_err(|e| format!("Sec_why: {e}"))?;
            let why = why
                .map(|w| w.to_string())
                .unwrap_or_else(|| "(no reason)".into());
            debug_println!(
                "Sec_connect refused: {err} (errno {}); why: {why}",
                err.errno()
            );
            if err == want {
                Ok(())
            } else {
                Err(format!("refused with {err:?}, expected {want:?}"))
            }
        }
    }
}

fn init() -> microkit::NullHandler {
    let name = microkit::pd_name();
    let mut net = match SecSock::pd() {
        Ok(n) => n,
        Err(e) => {
            debug_println!("RESULT: FAIL no network server channel: {e}");
            microkit::stop()
        }
    };
    let outcome = match name {
        "client" => client(&mut net).map(|_| "echo ok"),
        "intruder" => refused(
            &mut net,
            INTRUDER_CRED,
            ProtectionRequest::default(),
            Error::Refused,
        )
        .map(|_| "refused as expected"),
        "lowball" => refused(
            &mut net,
            LOWBALL_CRED,
            ProtectionRequest {
                level: Some(Level::Use),
                ..ProtectionRequest::default()
            },
            Error::BelowFloor,
        )
        .map(|_| "refused as expected"),
        other => Err(format!("unknown PD name {other:?}")),
    };
    match outcome {
        Ok(what) => debug_println!("RESULT: {what}"),
        Err(e) => debug_println!("RESULT: FAIL {e}"),
    }
    microkit::stop()
}

microkit::protection_domain!(init, stack_size = STACK_SIZE, heap_size = HEAP_SIZE);
