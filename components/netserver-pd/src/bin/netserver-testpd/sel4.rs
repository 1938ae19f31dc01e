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

use alloc::string::String;
use alloc::vec;
use core::time::Duration;
use microkit::{debug_println, Channel, ChannelSet, Handler, MemoryRegion, MessageInfo};
use netserver::testbed::{apps_a, network, sas, A, B};
use netserver_api::{
    Endpoint, Error, ProtectionRequest, Proto, Request, Response, SecurityContext, MAX_MESSAGE,
};

const RPC_MAX: usize = MAX_MESSAGE + 1024;

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

struct App {
    rpc: ipc::rpc::Client<RPC_MAX>,
    nonce: u128,
}

impl App {
    fn call(&self, req: &Request) -> Result<Response, Error> {
        self.rpc
            .call::<_, Result<Response, Error>>(req)
            .unwrap_or(Err(Error::Protocol))
    }

    /// Retries while the call would block, waiting for the netserver's
    /// notification in between (at most 20 s).
    fn wait_call(&self, req: &Request) -> Result<Response, Error> {
        let start = microkit::sel4::uptime();
        loop {
            match self.call(req) {
                Err(Error::WouldBlock)
                    if microkit::sel4::uptime() - start < Duration::from_secs(20) =>
                {
                    microkit::wait_notified(ChannelSet::from_bits(1));
                }
                r => return r,
            }
        }
    }

    fn ctx(&mut self, remote: Endpoint) -> SecurityContext {
        self.nonce += 1;
        SecurityContext {
            local: Endpoint::ANY,
            remote,
            issued: microkit::sel4::unix_time(),
            nonce: self.nonce.to_le_bytes(),
            protection: ProtectionRequest::default(),
            signature: vec![],
        }
    }

    fn socket(&self, proto: Proto) -> Option<u32> {
        match self.call(&Request::Socket { proto }) {
            Ok(Response::Socket(s)) => Some(s),
            other => {
                debug_println!("testpd client: socket: {other:?}");
                None
            }
        }
    }
}

fn client() {
    let Ok(buf) = MemoryRegion::by_name("buf_0") else {
        debug_println!("testpd client: no buf_0");
        return;
    };
    let mut app = App {
        rpc: ipc::rpc::Client::new(Channel::new(0), buf),
        nonce: u128::from(microkit::sel4::counter().0) << 32,
    };
    let remote = Endpoint::new(B, 7);
    let Some(u) = app.socket(Proto::Udp) else {
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
    let Some(t) = app.socket(Proto::Tcp) else {
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
