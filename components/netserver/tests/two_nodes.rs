//! Two network servers back to back over ESP with hand-keyed SAs: the
//! socket operations, vetting, SPD rules per flow and leak audits.

use netserver::stack::Audit;
use netserver::testbed::{Testbed, A, APP, B, KEY_A, KEY_B, OTHER, PLAIN};
use netserver_api::{
    AlgSet, Algorithm, Endpoint, Error, IpAddr, Level, ProtectionRequest, Proto, Refusal, Request,
    Response, SockOpt, SockOptValue, SocketId,
};

fn sock(r: Result<Response, Error>) -> SocketId {
    match r {
        Ok(Response::Socket(s)) => s,
        other => panic!("{other:?}"),
    }
}

/// Node B: `echo` listening on port 7. Returns the listener.
fn listen_b(t: &mut Testbed) -> SocketId {
    let l = sock(t.call_b(APP, Request::Socket { proto: Proto::Tcp }));
    let ctx = t.ctx(Endpoint::ANY, ProtectionRequest::default());
    let r = t.call_b(
        APP,
        Request::Bind {
            sock: l,
            local: Endpoint {
                addr: None,
                port: Some(7),
            },
            ctx,
            credentials: vec![],
        },
    );
    assert!(matches!(r, Ok(Response::Bound(_))), "{r:?}");
    let r = t.call_b(
        APP,
        Request::Listen {
            sock: l,
            backlog: 4,
        },
    );
    assert_eq!(r, Ok(Response::Ok));
    l
}

/// Node A's `client` opens a TCP connection to `remote` (not yet accepted
/// on B): the connect would block, the handshake runs, the retry reports it
/// connected from the returned local address.
fn open_a(t: &mut Testbed, remote: Endpoint, prot: ProtectionRequest) -> (SocketId, IpAddr) {
    let s = sock(t.call_a(APP, Request::Socket { proto: Proto::Tcp }));
    let ctx = t.ctx(remote, prot);
    let req = Request::Connect {
        sock: s,
        remote,
        ctx,
        credentials: vec![],
    };
    assert_eq!(t.call_a(APP, req.clone()), Err(Error::WouldBlock));
    t.pump(50);
    match t.call_a(APP, req) {
        Ok(Response::Connected { local, .. }) => (s, local.addr.expect("a local address")),
        other => panic!("{other:?}"),
    }
}

/// Node A's `client` connects to B:7; returns (A's socket, B's accepted socket).
fn connect(t: &mut Testbed, listener: SocketId, prot: ProtectionRequest) -> (SocketId, SocketId) {
    let (s, local) = open_a(t, Endpoint::new(B, 7), prot);
    assert_eq!(local, A);
    let now = t.now;
    let acc = match t
        .b
        .handle(&mut t.auth_b, APP, Request::Accept { sock: listener }, now)
    {
        Ok(Response::Accepted { sock, peer }) => {
            assert_eq!(peer.addr, Some(A));
            sock
        }
        other => panic!("{other:?}"),
    };
    (s, acc)
}

#[test]
fn tcp_over_esp_carries_data_and_reports_protection() {
    let mut t = Testbed::new();
    let l = listen_b(&mut t);
    let (s, acc) = connect(&mut t, l, ProtectionRequest::default());
    assert!(t.a.take_ready().contains(&APP));
    let r = t.call_a(
        APP,
        Request::Send {
            sock: s,
            data: b"hello over esp".to_vec(),
        },
    );
    assert_eq!(r, Ok(Response::Sent(14)));
    t.pump(50);
    assert!(t.b.take_ready().contains(&APP), "B's app is told data came");
    match t.call_b(
        APP,
        Request::Recv {
            sock: acc,
            max_len: 100,
        },
    ) {
        Ok(Response::Data {
            data, protection, ..
        }) => {
            assert_eq!(data, b"hello over esp");
            // The floor's preferred algorithm, the A->B SA, A's key.
            assert_eq!(protection.algorithm, Some(Algorithm::ChaCha20Poly1305));
            assert_eq!(protection.spi, Some(0x1002));
            assert_eq!(protection.peer_key.as_deref(), Some(KEY_A));
        }
        other => panic!("{other:?}"),
    }
    // Echo back; A sees B's key and credentials.
    t.call_b(
        APP,
        Request::Send {
            sock: acc,
            data: b"pong".to_vec(),
        },
    )
    .unwrap();
    t.pump(50);
    match t.call_a(
        APP,
        Request::Recv {
            sock: s,
            max_len: 2,
        },
    ) {
        Ok(Response::Data {
            data, protection, ..
        }) => {
            assert_eq!(data, b"po", "max_len is honoured");
            assert_eq!(protection.spi, Some(0x2002));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.call_a(APP, Request::GetRemoteKey { sock: s }),
        Ok(Response::Key(KEY_B.into()))
    );
    assert_eq!(
        t.call_a(APP, Request::GetRemoteCredentials { sock: s }),
        Ok(Response::Credentials(vec!["node-b credential".into()]))
    );
    // Every data packet went through ESP, none in the clear.
    let c = t.a.device().engine().counters();
    assert!(c.out_protected >= 3, "{c:?}");
    assert_eq!(c.out_bypassed, 0);
    assert!(t.b.device().engine().counters().in_decapsulated >= 3);
    // Nothing to read now: would block.
    assert_eq!(
        t.call_a(
            APP,
            Request::Recv {
                sock: s,
                max_len: 100
            }
        ),
        Ok(Response::Data {
            data: b"ng".to_vec(),
            from: Endpoint::new(B, 7),
            protection: netserver_api::InboundProtection {
                algorithm: Some(Algorithm::ChaCha20Poly1305),
                spi: Some(0x2002),
                peer_key: Some(KEY_B.into())
            }
        })
    );
    assert_eq!(
        t.call_a(
            APP,
            Request::Recv {
                sock: s,
                max_len: 100
            }
        ),
        Err(Error::WouldBlock)
    );
}

#[test]
fn algorithm_follows_the_request_and_the_rule_follows_the_socket() {
    let mut t = Testbed::new();
    let l = listen_b(&mut t);
    let base = t.a.audit();
    assert_eq!(base.spd_rules, 0, "nothing passes before vetting");
    let req = ProtectionRequest {
        algorithms: AlgSet::of(&[Algorithm::AesGcm128]),
        ..Default::default()
    };
    let (s, acc) = connect(&mut t, l, req);
    let au = t.a.audit();
    assert_eq!((au.spd_rules, au.sa_refs, au.tcp_ports), (1, 2, 1));
    match t.call_a(
        APP,
        Request::GetSockOpt {
            sock: s,
            opt: SockOpt::Protection,
        },
    ) {
        Ok(Response::Opt(SockOptValue::Protection(p))) => {
            assert_eq!(p.outbound_algorithm(), Some(Algorithm::AesGcm128));
            assert_eq!(p.level, Level::Require);
        }
        other => panic!("{other:?}"),
    }
    t.call_a(
        APP,
        Request::Send {
            sock: s,
            data: vec![1; 10],
        },
    )
    .unwrap();
    t.pump(50);
    match t.call_b(
        APP,
        Request::Recv {
            sock: acc,
            max_len: 100,
        },
    ) {
        Ok(Response::Data { protection, .. }) => {
            assert_eq!(protection.algorithm, Some(Algorithm::AesGcm128));
            assert_eq!(protection.spi, Some(0x1001));
        }
        other => panic!("{other:?}"),
    }
    // Close removes the rule, the SA references and the port (after the
    // FIN exchange, bounded by LINGER).
    assert_eq!(t.call_a(APP, Request::Close { sock: s }), Ok(Response::Ok));
    assert_eq!(
        t.call_b(APP, Request::Close { sock: acc }),
        Ok(Response::Ok)
    );
    t.pump(100);
    assert!(t.a.audit().is_clean(), "{:?}", t.a.audit());
    // B keeps only its listener (one rule per peer address, A's IPv4 and
    // IPv6, and one port).
    let b = t.b.audit();
    assert_eq!(
        (b.sockets, b.lingering, b.spd_rules, b.tcp_ports),
        (1, 0, 2, 1)
    );
    assert_eq!(t.a.stats().rules_inserted, t.a.stats().rules_removed);
}

#[test]
fn udp_sendto_recvfrom_reports_protection_and_sender() {
    let mut t = Testbed::new();
    // B: echo binds UDP port 7.
    let u = sock(t.call_b(APP, Request::Socket { proto: Proto::Udp }));
    let ctx = t.ctx(Endpoint::ANY, ProtectionRequest::default());
    t.call_b(
        APP,
        Request::Bind {
            sock: u,
            local: Endpoint {
                addr: Some(B),
                port: Some(7),
            },
            ctx,
            credentials: vec![],
        },
    )
    .unwrap();
    // A: client sends without binding first (a port comes from the pool).
    let c = sock(t.call_a(APP, Request::Socket { proto: Proto::Udp }));
    let remote = Endpoint::new(B, 7);
    for i in 0..3u8 {
        let ctx = t.ctx(remote, ProtectionRequest::default());
        let r = t.a.handle(
            &mut t.auth_a,
            APP,
            Request::SendTo {
                sock: c,
                remote,
                ctx,
                credentials: vec![],
                data: vec![i; 100],
            },
            t.now,
        );
        assert_eq!(r, Ok(Response::Sent(100)));
    }
    // The destination was vetted once, one rule for the flow.
    assert_eq!(t.auth_a.asked, 1);
    assert_eq!(t.a.audit().spd_rules, 1);
    t.pump(50);
    for i in 0..3u8 {
        match t.call_b(
            APP,
            Request::RecvFrom {
                sock: u,
                max_len: 1000,
            },
        ) {
            Ok(Response::Data {
                data,
                from,
                protection,
            }) => {
                assert_eq!(data, vec![i; 100]);
                assert_eq!(from.addr, Some(A));
                assert!(from.port.unwrap() >= 49152);
                assert_eq!(protection.algorithm, Some(Algorithm::ChaCha20Poly1305));
                assert_eq!(protection.spi, Some(0x1002));
                assert_eq!(protection.peer_key.as_deref(), Some(KEY_A));
            }
            other => panic!("{other:?}"),
        }
    }
    // A datagram that would need IP fragmentation is refused, not lost.
    let ctx = t.ctx(remote, ProtectionRequest::default());
    assert_eq!(
        t.call_a(
            APP,
            Request::SendTo {
                sock: c,
                remote,
                ctx,
                credentials: vec![],
                data: vec![0; 1373]
            }
        ),
        Err(Error::TooLarge)
    );
    assert_eq!(
        t.call_b(APP, Request::GetRemoteKey { sock: u }),
        Ok(Response::Key(KEY_A.into()))
    );
    assert_eq!(
        t.call_b(
            APP,
            Request::RecvFrom {
                sock: u,
                max_len: 1000
            }
        ),
        Err(Error::WouldBlock)
    );
    t.call_a(APP, Request::Close { sock: c }).unwrap();
    t.call_b(APP, Request::Close { sock: u }).unwrap();
    assert!(t.a.audit().is_clean(), "{:?}", t.a.audit());
    assert!(t.b.audit().is_clean(), "{:?}", t.b.audit());
}

#[test]
fn level_require_drops_plaintext_for_that_socket() {
    let mut t = Testbed::new();
    // A: client binds a UDP port at level require.
    let u = sock(t.call_a(APP, Request::Socket { proto: Proto::Udp }));
    let ctx = t.ctx(Endpoint::ANY, ProtectionRequest::default());
    let port = match t.call_a(
        APP,
        Request::Bind {
            sock: u,
            local: Endpoint::ANY,
            ctx,
            credentials: vec![],
        },
    ) {
        Ok(Response::Bound(e)) => e.port.unwrap(),
        other => panic!("{other:?}"),
    };
    // B: the plain app (floor bypass) sends to it in the clear.
    let p = sock(t.call_b(PLAIN, Request::Socket { proto: Proto::Udp }));
    let remote = Endpoint::new(A, port);
    let ctx = t.ctx(remote, ProtectionRequest::default());
    let r = t.call_b(
        PLAIN,
        Request::SendTo {
            sock: p,
            remote,
            ctx,
            credentials: vec![],
            data: b"clear".to_vec(),
        },
    );
    assert_eq!(r, Ok(Response::Sent(5)));
    t.pump(50);
    assert_eq!(t.b.device().engine().counters().out_bypassed, 1);
    assert_eq!(
        t.call_a(
            APP,
            Request::RecvFrom {
                sock: u,
                max_len: 100
            }
        ),
        Err(Error::WouldBlock),
        "plaintext never reaches a require socket"
    );
    assert_eq!(
        t.a.device()
            .engine()
            .counters()
            .dropped(ipsec::DropReason::ClearTextRejected),
        1
    );
    // The same app on A at level bypass receives it.
    let q = sock(t.call_a(PLAIN, Request::Socket { proto: Proto::Udp }));
    let ctx = t.ctx(Endpoint::ANY, ProtectionRequest::default());
    let port = match t.call_a(
        PLAIN,
        Request::Bind {
            sock: q,
            local: Endpoint::ANY,
            ctx,
            credentials: vec![],
        },
    ) {
        Ok(Response::Bound(e)) => e.port.unwrap(),
        other => panic!("{other:?}"),
    };
    let remote = Endpoint::new(A, port);
    let ctx = t.ctx(remote, ProtectionRequest::default());
    t.call_b(
        PLAIN,
        Request::SendTo {
            sock: p,
            remote,
            ctx,
            credentials: vec![],
            data: b"clear".to_vec(),
        },
    )
    .unwrap();
    t.pump(50);
    match t.call_a(
        PLAIN,
        Request::RecvFrom {
            sock: q,
            max_len: 100,
        },
    ) {
        Ok(Response::Data {
            data, protection, ..
        }) => {
            assert_eq!(data, b"clear");
            assert_eq!(protection.algorithm, None, "reported as unprotected");
            assert_eq!(protection.peer_key, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refusals_leave_nothing_behind_and_say_why() {
    let mut t = Testbed::new();
    t.auth_a.deny.push("client".into());
    let s = sock(t.call_a(APP, Request::Socket { proto: Proto::Tcp }));
    let remote = Endpoint::new(B, 7);
    let ctx = t.ctx(remote, ProtectionRequest::default());
    let r = t.call_a(
        APP,
        Request::Connect {
            sock: s,
            remote,
            ctx,
            credentials: vec![],
        },
    );
    assert_eq!(r, Err(Error::Refused));
    match t.call_a(APP, Request::LastRefusal) {
        Ok(Response::Refusal(Some(Refusal::Policy { value, reasons }))) => {
            assert_eq!(value, "DENY");
            assert!(reasons[0].contains("client"), "{reasons:?}");
        }
        other => panic!("{other:?}"),
    }
    let au = t.a.audit();
    assert_eq!((au.spd_rules, au.sa_refs, au.tcp_ports), (0, 0, 0));
    // Below the floor: refused before the trust PD is asked.
    t.auth_a.deny.clear();
    let asked = t.auth_a.asked;
    let low = ProtectionRequest {
        level: Some(Level::Use),
        ..Default::default()
    };
    let ctx = t.ctx(remote, low);
    let r = t.call_a(
        APP,
        Request::Connect {
            sock: s,
            remote,
            ctx,
            credentials: vec![],
        },
    );
    assert_eq!(r, Err(Error::BelowFloor));
    assert_eq!(t.auth_a.asked, asked);
    assert!(matches!(
        t.call_a(APP, Request::LastRefusal),
        Ok(Response::Refusal(Some(Refusal::BelowFloor(_))))
    ));
    // A replayed context.
    let ctx = t.ctx(remote, ProtectionRequest::default());
    let req = Request::Connect {
        sock: s,
        remote,
        ctx,
        credentials: vec![],
    };
    assert_eq!(t.call_a(APP, req.clone()), Err(Error::WouldBlock));
    let s2 = sock(t.call_a(APP, Request::Socket { proto: Proto::Tcp }));
    let replay = match req {
        Request::Connect { ctx, .. } => Request::Connect {
            sock: s2,
            remote,
            ctx,
            credentials: vec![],
        },
        _ => unreachable!(),
    };
    assert_eq!(t.call_a(APP, replay), Err(Error::Refused));
    assert_eq!(
        t.call_a(APP, Request::LastRefusal),
        Ok(Response::Refusal(Some(Refusal::Replayed)))
    );
    // Trust unreachable: fail closed.
    t.auth_a.reachable = false;
    let ctx = t.ctx(remote, ProtectionRequest::default());
    assert_eq!(
        t.call_a(
            APP,
            Request::Connect {
                sock: s2,
                remote,
                ctx,
                credentials: vec![]
            }
        ),
        Err(Error::Refused)
    );
    assert_eq!(
        t.call_a(APP, Request::LastRefusal),
        Ok(Response::Refusal(Some(Refusal::TrustUnavailable)))
    );
    // Unique cannot be given with hand-keyed SAs: refused, nothing held.
    t.auth_a.reachable = true;
    let ctx = t.ctx(
        remote,
        ProtectionRequest {
            level: Some(Level::Unique),
            ..Default::default()
        },
    );
    assert_eq!(
        t.call_a(
            APP,
            Request::Connect {
                sock: s2,
                remote,
                ctx,
                credentials: vec![]
            }
        ),
        Err(Error::NotSupported)
    );
    // Only s's (pending) connection holds anything.
    let au = t.a.audit();
    assert_eq!((au.spd_rules, au.tcp_ports), (1, 1));
    t.call_a(APP, Request::Close { sock: s }).unwrap();
    t.call_a(APP, Request::Close { sock: s2 }).unwrap();
    t.pump(10);
    t.advance(3);
    t.pump(10);
    assert!(t.a.audit().is_clean(), "{:?}", t.a.audit());
}

#[test]
fn setsockopt_raises_never_lowers() {
    let mut t = Testbed::new();
    let l = listen_b(&mut t);
    let (s, _acc) = connect(&mut t, l, ProtectionRequest::default());
    let lower = SockOptValue::RaiseProtection(ProtectionRequest {
        level: Some(Level::Use),
        ..Default::default()
    });
    assert_eq!(
        t.call_a(
            APP,
            Request::SetSockOpt {
                sock: s,
                value: lower
            }
        ),
        Err(Error::BelowFloor)
    );
    // Narrowing the algorithms to AES-GCM-128 is a raise: the rule moves to that SA.
    let raise = SockOptValue::RaiseProtection(ProtectionRequest {
        algorithms: AlgSet::of(&[Algorithm::AesGcm128]),
        ..Default::default()
    });
    match t.call_a(
        APP,
        Request::SetSockOpt {
            sock: s,
            value: raise,
        },
    ) {
        Ok(Response::Opt(SockOptValue::Protection(p))) => {
            assert_eq!(p.outbound_algorithm(), Some(Algorithm::AesGcm128))
        }
        other => panic!("{other:?}"),
    }
    // Widening again is lowering.
    let widen = SockOptValue::RaiseProtection(ProtectionRequest {
        algorithms: AlgSet::of(&[Algorithm::AesGcm128, Algorithm::ChaCha20Poly1305]),
        ..Default::default()
    });
    assert_eq!(
        t.call_a(
            APP,
            Request::SetSockOpt {
                sock: s,
                value: widen
            }
        ),
        Err(Error::BelowFloor)
    );
    let au = t.a.audit();
    assert_eq!((au.spd_rules, au.sa_refs), (1, 2));
    let out = t.a.device().engine().counters().out_protected;
    t.call_a(
        APP,
        Request::Send {
            sock: s,
            data: vec![9; 8],
        },
    )
    .unwrap();
    t.pump(50);
    assert!(t.a.device().engine().counters().out_protected > out);
}

#[test]
fn applications_cannot_touch_each_others_sockets_or_ports() {
    let mut t = Testbed::new();
    let l = listen_b(&mut t);
    let (s, _) = connect(&mut t, l, ProtectionRequest::default());
    let now = t.now;
    for req in [
        Request::Send {
            sock: s,
            data: vec![1],
        },
        Request::Recv {
            sock: s,
            max_len: 10,
        },
        Request::GetSockOpt {
            sock: s,
            opt: SockOpt::Protection,
        },
        Request::GetRemoteKey { sock: s },
        Request::Close { sock: s },
        Request::Accept { sock: s },
    ] {
        assert_eq!(t.call_a(OTHER, req), Err(Error::BadSocket));
    }
    // The socket still works for its owner.
    assert!(t
        .a
        .handle(
            &mut t.auth_a,
            APP,
            Request::Send {
                sock: s,
                data: vec![1]
            },
            now
        )
        .is_ok());
    // `other`'s reserved port 5000 is not for `client`.
    let u = sock(t.call_a(APP, Request::Socket { proto: Proto::Udp }));
    let ctx = t.ctx(Endpoint::ANY, ProtectionRequest::default());
    assert_eq!(
        t.call_a(
            APP,
            Request::Bind {
                sock: u,
                local: Endpoint {
                    addr: None,
                    port: Some(5000)
                },
                ctx,
                credentials: vec![]
            }
        ),
        Err(Error::AddressInUse)
    );
    // A channel no profile binds gets nothing.
    assert_eq!(
        t.call_a(42, Request::Socket { proto: Proto::Tcp }),
        Err(Error::Refused)
    );
    // An application that exits has its sockets closed.
    t.a.close_owner(APP, now.instant);
    t.pump(10);
    t.advance(3);
    t.pump(10);
    assert!(t.a.audit().is_clean(), "{:?}", t.a.audit());
}

#[test]
fn ten_thousand_connect_close_cycles_leave_nothing_behind() {
    let mut t = Testbed::new();
    let l = listen_b(&mut t);
    let b_base = t.b.audit();
    for i in 0..10_000u32 {
        if i % 100 == 0 {
            t.advance(1); // contexts stay fresh, old nonces expire
        }
        let (s, acc) = connect(&mut t, l, ProtectionRequest::default());
        t.call_a(APP, Request::Close { sock: s }).unwrap();
        t.call_b(APP, Request::Close { sock: acc }).unwrap();
        t.pump(20);
    }
    t.advance(3);
    t.pump(20);
    let a = t.a.audit();
    assert!(a.is_clean(), "{a:?}");
    assert_eq!(t.b.audit(), b_base);
    assert_eq!(t.a.stats().rules_inserted, 10_000);
    assert_eq!(t.a.stats().rules_removed, 10_000);
    assert_eq!(t.b.stats().rules_inserted - b_base.spd_rules as u64, 10_000);
    let _ = Audit::default();
}

#[test]
fn the_largest_datagram_crosses_esp_whole() {
    let mut t = Testbed::new();
    let u = sock(t.call_b(APP, Request::Socket { proto: Proto::Udp }));
    let ctx = t.ctx(Endpoint::ANY, ProtectionRequest::default());
    t.call_b(
        APP,
        Request::Bind {
            sock: u,
            local: Endpoint {
                addr: None,
                port: Some(7),
            },
            ctx,
            credentials: vec![],
        },
    )
    .unwrap();
    let c = sock(t.call_a(APP, Request::Socket { proto: Proto::Udp }));
    let remote = Endpoint::new(B, 7);
    let ctx = t.ctx(remote, ProtectionRequest::default());
    let data: Vec<u8> = (0..netserver::stack::MAX_DATAGRAM)
        .map(|i| i as u8)
        .collect();
    let r = t.call_a(
        APP,
        Request::SendTo {
            sock: c,
            remote,
            ctx,
            credentials: vec![],
            data: data.clone(),
        },
    );
    assert_eq!(r, Ok(Response::Sent(data.len() as u32)));
    t.pump(50);
    match t.call_b(
        APP,
        Request::RecvFrom {
            sock: u,
            max_len: 65535,
        },
    ) {
        Ok(Response::Data { data: got, .. }) => assert_eq!(got, data),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.a.device().engine().counters().dropped_total(), 0);
}

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_request_sequences_never_panic_and_leave_nothing_behind() {
    use netserver_api::{Algorithm as Al, IpAddr, Service};
    let mut t = Testbed::new();
    let _l = listen_b(&mut t);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let owners = [APP, OTHER, PLAIN, 42];
    let addrs = [
        Some(A),
        Some(B),
        Some(IpAddr::V4([192, 0, 2, 9])),
        Some(IpAddr::V6([1; 16])),
        None,
    ];
    for step in 0..4000 {
        let owner = owners[rng.below(4) as usize];
        let sock = rng.below(12) as u32;
        let ep = Endpoint {
            addr: addrs[rng.below(5) as usize],
            port: [None, Some(0), Some(7), Some(5000), Some(50000)][rng.below(5) as usize],
        };
        let prot = ProtectionRequest {
            service: [None, Some(Service::Auth), Some(Service::AuthCon)][rng.below(3) as usize],
            level: [
                None,
                Some(Level::Bypass),
                Some(Level::Avail),
                Some(Level::Require),
                Some(Level::Unique),
            ][rng.below(5) as usize],
            algorithms: [
                AlgSet::EMPTY,
                AlgSet::of(&[Al::AesGcm128]),
                AlgSet::of(&[Al::AesGmac128]),
                AlgSet::from_bits(0xff),
            ][rng.below(4) as usize],
        };
        let ctx = t.ctx(if rng.below(2) == 0 { Endpoint::ANY } else { ep }, prot);
        let data = vec![7u8; [0, 1, 1500, 70_000][rng.below(4) as usize]];
        let req = match rng.below(14) {
            0 | 1 => Request::Socket {
                proto: if rng.below(2) == 0 {
                    Proto::Tcp
                } else {
                    Proto::Udp
                },
            },
            2 => Request::Bind {
                sock,
                local: ep,
                ctx,
                credentials: vec![],
            },
            3 => Request::Listen {
                sock,
                backlog: rng.below(100) as u16,
            },
            4 => Request::Accept { sock },
            5 | 6 => Request::Connect {
                sock,
                remote: ep,
                ctx,
                credentials: vec![],
            },
            7 => Request::Send { sock, data },
            8 => Request::Recv {
                sock,
                max_len: rng.next() as u32,
            },
            9 => Request::SendTo {
                sock,
                remote: ep,
                ctx,
                credentials: vec![],
                data,
            },
            10 => Request::RecvFrom {
                sock,
                max_len: rng.next() as u32,
            },
            11 => Request::Close { sock },
            12 => Request::SetSockOpt {
                sock,
                value: SockOptValue::RaiseProtection(prot),
            },
            _ => Request::GetRemoteKey { sock },
        };
        let _ = t.call_a(owner, req);
        if step % 7 == 0 {
            t.pump(5);
        }
    }
    for owner in owners {
        let now = t.now;
        t.a.close_owner(owner, now.instant);
    }
    t.pump(20);
    t.advance(3);
    t.pump(20);
    let a = t.a.audit();
    assert!(a.is_clean(), "{a:?}");
    assert_eq!(t.a.stats().rules_inserted, t.a.stats().rules_removed);
    assert!(
        t.a.stats().rules_inserted > 0,
        "the sequence did reach the SPD"
    );
}

#[test]
fn tcp_over_esp_on_ipv6() {
    use netserver::testbed::{A6, B6};
    let mut t = Testbed::new();
    let l = listen_b(&mut t);
    let (s, local) = open_a(&mut t, Endpoint::new(B6, 7), ProtectionRequest::default());
    assert_eq!(local, A6);
    let now = t.now;
    let acc = match t
        .b
        .handle(&mut t.auth_b, APP, Request::Accept { sock: l }, now)
    {
        Ok(Response::Accepted { sock, peer }) => {
            assert_eq!(peer.addr, Some(A6));
            sock
        }
        other => panic!("{other:?}"),
    };
    t.call_a(
        APP,
        Request::Send {
            sock: s,
            data: b"v6".to_vec(),
        },
    )
    .unwrap();
    t.pump(50);
    match t.call_b(
        APP,
        Request::Recv {
            sock: acc,
            max_len: 10,
        },
    ) {
        // Only AES-GCM-128 SAs exist over IPv6: the algorithm follows.
        Ok(Response::Data {
            data, protection, ..
        }) => {
            assert_eq!(data, b"v6");
            assert_eq!(protection.algorithm, Some(Algorithm::AesGcm128));
            assert_eq!(protection.spi, Some(0x1003));
            assert_eq!(protection.peer_key.as_deref(), Some(KEY_A));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.call_a(APP, Request::GetRemoteKey { sock: s }),
        Ok(Response::Key(KEY_B.into()))
    );
}

/// The initial sequence number of PLAIN's first TCP SYN from A to B:9,
/// with smoltcp seeded by `seed` on A (bypass, so the SYN is readable).
fn first_syn_isn(seed: u64) -> u32 {
    let mut t = Testbed::with_seeds([seed, 7]);
    let s = sock(t.call_a(PLAIN, Request::Socket { proto: Proto::Tcp }));
    let remote = Endpoint::new(B, 9);
    let ctx = t.ctx(remote, ProtectionRequest::default());
    let r = t.call_a(
        PLAIN,
        Request::Connect {
            sock: s,
            remote,
            ctx,
            credentials: vec![],
        },
    );
    assert_eq!(r, Err(Error::WouldBlock));
    // A asks for B's MAC, B answers, then A sends the SYN: stop there.
    for _ in 0..10 {
        t.now.instant += smoltcp::time::Duration::from_millis(1);
        t.a.poll(t.now.instant);
        for f in t.b.device().inner().waiting() {
            // Ethernet IPv4, protocol TCP, flags SYN only.
            if f.len() >= 54 && f[12..14] == [8, 0] && f[23] == 6 {
                let tcp = 14 + usize::from(f[14] & 0x0f) * 4;
                if f[tcp + 13] == 0x02 {
                    return u32::from_be_bytes([f[tcp + 4], f[tcp + 5], f[tcp + 6], f[tcp + 7]]);
                }
            }
        }
        t.b.poll(t.now.instant);
    }
    panic!("no SYN from A");
}

#[test]
fn tcp_initial_sequence_numbers_follow_the_random_seed() {
    let (x, y) = (first_syn_isn(0x1234_5678_9abc_def0), first_syn_isn(42));
    assert_ne!(x, y, "different seeds, same ISN {x:#x}");
    assert_eq!(
        x,
        first_syn_isn(0x1234_5678_9abc_def0),
        "a seed is deterministic"
    );
}

#[test]
fn data_that_arrives_before_accept_reports_its_protection() {
    // The client's bytes reach B while the connection is still in the
    // listener's backlog (they are carried by the listener's rule), then B
    // accepts and reads them: they came over ESP and must say so.
    let mut t = Testbed::new();
    let l = listen_b(&mut t);
    let (s, local) = open_a(&mut t, Endpoint::new(B, 7), ProtectionRequest::default());
    assert_eq!(local, A);
    let r = t.call_a(
        APP,
        Request::Send {
            sock: s,
            data: b"early bytes".to_vec(),
        },
    );
    assert_eq!(r, Ok(Response::Sent(11)));
    t.pump(50);
    let acc = match t.call_b(APP, Request::Accept { sock: l }) {
        Ok(Response::Accepted { sock, .. }) => sock,
        other => panic!("{other:?}"),
    };
    match t.call_b(
        APP,
        Request::Recv {
            sock: acc,
            max_len: 100,
        },
    ) {
        Ok(Response::Data {
            data, protection, ..
        }) => {
            assert_eq!(data, b"early bytes");
            assert!(protection.algorithm.is_some(), "{protection:?}");
            assert!(protection.spi.is_some(), "{protection:?}");
            assert_eq!(
                protection.peer_key.as_deref(),
                Some(KEY_A),
                "{protection:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}
