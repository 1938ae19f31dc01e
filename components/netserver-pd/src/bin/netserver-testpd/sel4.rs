//! The test PDs on seL4 (`ci/sel4.sh test`, `system/sel4/netserver-testbed-virt.system`):
//! the real `netserver` PD of QEMU `virt` against node B of
//! `netserver::testbed` running on the host (`tests/sel4_virt.rs`) over
//! QEMU's dgram network. Roles, by PD name:
//!
//! - `policyrepo`: answers GetNetwork/GetApps/GetSas with node A of the
//!   testbed (no bundle, no signature: a stand-in for the policy chain);
//! - `trust`: allows everything;
//! - `client`: UDP and TCP echo through node B over ESP, printing what it
//!   gets, then `testpd client: done`.

use crate::app::{App, RPC_MAX};
use alloc::string::String;
use alloc::vec;
use core::time::Duration;
use microkit::{debug_println, Channel, ChannelSet, Handler, MemoryRegion, MessageInfo};
use netserver::testbed::{apps_a, network, sas, A, B};
use netserver_api::{Endpoint, Proto, Request, Response};

microkit::memory_region_symbol!(buf_0, size = 0x20000);
// (unused: lets the testpd stand in for a demo app that maps its repository buffer)
microkit::memory_region_symbol!(buf_1, size = 0x20000);

pub(crate) struct Pd;

impl Handler for Pd {
    type Error = core::convert::Infallible;

    fn notified(&mut self, _c: ChannelSet) -> Result<(), Self::Error> {
        Ok(())
    }

    fn protected(&mut self, _ch: Channel, msg: MessageInfo) -> Result<MessageInfo, Self::Error> {
        let Ok(buf) = MemoryRegion::by_name("buf_0") else {
            return Ok(MessageInfo::new(5, 0));
        };
        let server = ipc::rpc::Server::<RPC_MAX>::new(buf);
        Ok(match microkit::pd_name() {
            "policyrepo" => server.handle(msg, |req: policyrepo_api::Request| {
                use policyrepo_api::{Request as R, Response as P};
                match req {
                    R::GetNetwork => Ok(P::Network(network(true))),
                    R::GetApps => Ok(P::Apps(apps_a())),
                    R::GetSas => Ok(P::Sas(sas(A, B))),
                    _ => Err(policyrepo_api::Error::NotPermitted),
                }
            }),
            "trust" => server.handle(msg, |req: trust_api::Request| {
                use trust_api::{Decision, Request as Q, Response as T};
                match req {
                    Q::Query { .. } => Ok(T::Decision(Decision {
                        allowed: true,
                        value: "ALLOW".into(),
                        reasons: vec![],
                    })),
                    Q::Reload => Err(trust_api::Error::NotPermitted),
                }
            }),
            _ => MessageInfo::new(1, 0),
        })
    }
}

fn socket(app: &App, proto: Proto) -> Option<u32> {
    match app.call(&Request::Socket { proto }) {
        Ok(Response::Socket(s)) => Some(s),
        other => {
            debug_println!("testpd client: socket: {other:?}");
            None
        }
    }
}

/// Time since boot.
pub(crate) fn uptime() -> Duration {
    microkit::sel4::uptime()
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    microkit::sel4::unix_time()
}

fn client() {
    let Some(mut app) = App::open(
        u128::from(microkit::sel4::counter().0) << 32,
        Duration::from_secs(20),
    ) else {
        debug_println!("testpd client: no buf_0");
        return;
    };
    let remote = Endpoint::new(B, 7);
    let Some(u) = socket(&app, Proto::Udp) else {
        return;
    };
    let ctx = app.ctx(remote);
    let r = app.call(&Request::SendTo {
        sock: u,
        remote,
        ctx,
        credentials: vec![],
        data: b"udp hello".to_vec(),
    });
    debug_println!("testpd client: udp sendto: {r:?}");
    match app.wait_call(&Request::RecvFrom {
        sock: u,
        max_len: 100,
    }) {
        Ok(Response::Data {
            data, protection, ..
        }) => debug_println!(
            "testpd client: udp echo: {} alg={:?} spi={:?}",
            String::from_utf8_lossy(&data),
            protection.algorithm,
            protection.spi,
        ),
        other => debug_println!("testpd client: udp recvfrom: {other:?}"),
    }
    let Some(t) = socket(&app, Proto::Tcp) else {
        return;
    };
    let ctx = app.ctx(remote);
    let r = app.wait_call(&Request::Connect {
        sock: t,
        remote,
        ctx,
        credentials: vec![],
    });
    debug_println!(
        "testpd client: tcp connect: {}",
        matches!(r, Ok(Response::Connected { .. }))
    );
    let r = app.call(&Request::Send {
        sock: t,
        data: b"tcp hello".to_vec(),
    });
    debug_println!("testpd client: tcp send: {r:?}");
    match app.wait_call(&Request::Recv {
        sock: t,
        max_len: 100,
    }) {
        Ok(Response::Data {
            data, protection, ..
        }) => debug_println!(
            "testpd client: tcp echo: {} alg={:?} key={:?}",
            String::from_utf8_lossy(&data),
            protection.algorithm,
            protection.peer_key
        ),
        other => debug_println!("testpd client: tcp recv: {other:?}"),
    }
    debug_println!(
        "testpd client: close: {:?}",
        app.call(&Request::Close { sock: t })
    );
    debug_println!("testpd client: done");
}

pub(crate) fn init() -> Pd {
    if microkit::pd_name() == "client" {
        client();
        microkit::stop();
    }
    Pd
}
