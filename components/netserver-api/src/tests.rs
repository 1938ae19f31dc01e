use super::*;
use alloc::string::ToString;
use alloc::vec;

fn floor() -> Floor {
    Floor {
        service: Service::AuthCon,
        level: Level::Require,
        algorithms: AlgSet::of(&[Algorithm::AesGcm128, Algorithm::ChaCha20Poly1305]),
    }
}

#[test]
fn empty_request_gets_the_floor() {
    let p = ProtectionRequest::default().resolve(&floor()).unwrap();
    assert_eq!(p.service, Service::AuthCon);
    assert_eq!(p.level, Level::Require);
    assert_eq!(p.algorithms, floor().algorithms);
    // Preference order: ChaCha20-Poly1305 before AES-GCM-128 in Algorithm::ALL.
    assert_eq!(p.outbound_algorithm(), Some(Algorithm::ChaCha20Poly1305));
}

#[test]
fn raising_is_granted() {
    let req = ProtectionRequest {
        service: None,
        level: Some(Level::Unique),
        algorithms: AlgSet::of(&[Algorithm::AesGcm128]),
    };
    let p = req.resolve(&floor()).unwrap();
    assert_eq!(p.level, Level::Unique);
    assert_eq!(p.outbound_algorithm(), Some(Algorithm::AesGcm128));
}

#[test]
fn lowering_the_level_is_refused_with_the_reason() {
    let req = ProtectionRequest {
        level: Some(Level::Bypass),
        ..Default::default()
    };
    let err = req.resolve(&floor()).unwrap_err();
    assert_eq!(
        err,
        FloorViolation::Level {
            floor: Level::Require,
            requested: Level::Bypass
        }
    );
    assert_eq!(
        err.to_string(),
        "requested level Bypass is below the administrator's floor Require"
    );
}

#[test]
fn lowering_the_service_is_refused() {
    let req = ProtectionRequest {
        service: Some(Service::Auth),
        ..Default::default()
    };
    assert_eq!(
        req.resolve(&floor()),
        Err(FloorViolation::Service {
            floor: Service::AuthCon,
            requested: Service::Auth
        })
    );
    // Con and Auth are incomparable: neither satisfies the other.
    let f = Floor {
        service: Service::Auth,
        ..floor()
    };
    let req = ProtectionRequest {
        service: Some(Service::Con),
        ..Default::default()
    };
    assert!(matches!(
        req.resolve(&f),
        Err(FloorViolation::Service { .. })
    ));
}

#[test]
fn disallowed_algorithms_are_refused_and_named() {
    let req = ProtectionRequest {
        algorithms: AlgSet::of(&[Algorithm::AesGcm128, Algorithm::AesGmac256]),
        ..Default::default()
    };
    let err = req.resolve(&floor()).unwrap_err();
    assert!(matches!(err, FloorViolation::Algorithms { .. }));
    let text = err.to_string();
    assert!(text.contains("[aes-gmac-256] are not allowed"), "{text}");
}

#[test]
fn gmac_cannot_give_confidentiality() {
    let f = Floor {
        service: Service::Auth,
        level: Level::Use,
        algorithms: AlgSet::all(),
    };
    let req = ProtectionRequest {
        service: Some(Service::AuthCon),
        algorithms: AlgSet::of(&[Algorithm::AesGmac128]),
        ..Default::default()
    };
    assert_eq!(
        req.resolve(&f),
        Err(FloorViolation::NoAlgorithmForService {
            service: Service::AuthCon
        })
    );
    // Integrity only with every algorithm allowed: AEADs also fit SEC_AUTH.
    let p = ProtectionRequest::default().resolve(&f).unwrap();
    assert_eq!(p.algorithms, AlgSet::all());
}

#[test]
fn bypass_floor_needs_no_algorithm() {
    let f = Floor {
        service: Service::Auth,
        level: Level::Bypass,
        algorithms: AlgSet::EMPTY,
    };
    let p = ProtectionRequest::default().resolve(&f).unwrap();
    assert_eq!(p.outbound_algorithm(), None);
}

#[test]
fn unknown_algorithm_bits_from_a_peer_are_ignored() {
    let set = AlgSet::from_bits(0b1110_0000);
    assert!(set.is_empty());
    assert!(set.is_subset(AlgSet::EMPTY));
    assert_eq!(set.iter().count(), 0);
}

#[test]
fn levels_are_ordered_and_round_trip_through_c() {
    let all = [
        Level::Bypass,
        Level::Avail,
        Level::Use,
        Level::Require,
        Level::Unique,
    ];
    for w in all.windows(2) {
        assert!(w[0] < w[1]);
    }
    for l in all {
        assert_eq!(Level::from_c(l.to_c()), Some(l));
    }
    assert_eq!(Level::from_c(5), None);
    for s in [Service::Auth, Service::Con, Service::AuthCon] {
        assert_eq!(Service::from_c(s.to_c()), Some(s));
    }
    assert_eq!(Service::from_c(0), None);
}

#[test]
fn algorithm_names_round_trip() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(a.name()), Some(a));
    }
    assert_eq!(Algorithm::from_name("des-cbc"), None);
}

fn ctx() -> SecurityContext {
    SecurityContext {
        local: Endpoint::ANY,
        remote: Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7),
        issued: 1_700_000_000,
        nonce: [7; 16],
        protection: ProtectionRequest::default(),
        signature: vec![1, 2, 3],
    }
}

#[test]
fn every_request_round_trips() {
    let reqs = vec![
        Request::Socket { proto: Proto::Tcp },
        Request::Connect {
            sock: 3,
            remote: Endpoint::new(IpAddr::V6([0xfe; 16]), 443),
            ctx: ctx(),
            credentials: vec!["Authorizer: POLICY".into()],
        },
        Request::SendTo {
            sock: 1,
            remote: Endpoint::ANY,
            ctx: ctx(),
            credentials: vec![],
            data: vec![0; 1000],
        },
        Request::SetSockOpt {
            sock: 1,
            value: SockOptValue::RaiseProtection(ProtectionRequest {
                level: Some(Level::Unique),
                ..Default::default()
            }),
        },
        Request::LastRefusal,
    ];
    for r in reqs {
        let bytes = encode(&r).unwrap();
        assert_eq!(decode::<Request>(&bytes).unwrap(), r);
    }
}

#[test]
fn malformed_messages_are_protocol_errors() {
    let bytes = encode(&Request::Close { sock: 9 }).unwrap();
    // Truncated.
    assert_eq!(
        decode::<Request>(&bytes[..bytes.len() - 1]),
        Err(Error::Protocol)
    );
    // Trailing garbage.
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(decode::<Request>(&long), Err(Error::Protocol));
    // Unknown variant.
    assert_eq!(decode::<Request>(&[200]), Err(Error::Protocol));
    // Oversized.
    assert_eq!(
        decode::<Request>(&vec![0; MAX_MESSAGE + 1]),
        Err(Error::TooLarge)
    );
    // Send { sock: 1, data } whose length prefix (65535) exceeds the message.
    assert_eq!(
        decode::<Request>(&[5, 1, 0xff, 0xff, 0x03, 1, 2]),
        Err(Error::Protocol)
    );
}

#[test]
fn every_byte_prefix_decodes_without_panic() {
    // Cheap exhaustive check over short inputs: no panic, only typed errors.
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            let _ = decode::<Request>(&[a, b]);
            let _ = decode::<Response>(&[a, b, a]);
        }
    }
}

#[test]
fn signature_covers_every_field_but_itself() {
    let base = ctx();
    let mut unsigned = base.clone();
    unsigned.signature.clear();
    assert_eq!(base.signed_bytes(), unsigned.signed_bytes());
    let mut other = base.clone();
    other.nonce[0] ^= 1;
    assert_ne!(base.signed_bytes(), other.signed_bytes());
    let mut other = base.clone();
    other.issued += 1;
    assert_ne!(base.signed_bytes(), other.signed_bytes());
    let mut other = base.clone();
    other.protection.level = Some(Level::Bypass);
    assert_ne!(base.signed_bytes(), other.signed_bytes());
}

#[test]
fn errno_values_are_distinct() {
    let all = [
        Error::BadSocket,
        Error::Refused,
        Error::BelowFloor,
        Error::AddressInUse,
        Error::NoPorts,
        Error::ConnectionRefused,
        Error::NotConnected,
        Error::WouldBlock,
        Error::TimedOut,
        Error::Invalid,
        Error::TooLarge,
        Error::NoBuffers,
        Error::NotSupported,
        Error::Protocol,
        Error::Unreachable,
    ];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a.errno(), b.errno(), "{a:?} {b:?}");
        }
    }
}

#[test]
fn endpoints_match_and_print() {
    let any_port = Endpoint {
        addr: Some(IpAddr::V4([192, 0, 2, 1])),
        port: None,
    };
    assert!(any_port.matches(IpAddr::V4([192, 0, 2, 1]), 80));
    assert!(!any_port.matches(IpAddr::V4([192, 0, 2, 9]), 80));
    assert!(Endpoint::ANY.matches(IpAddr::V6([0; 16]), 1));
    assert_eq!(any_port.to_string(), "192.0.2.1:ANY");
    let mut v6 = [0u8; 16];
    v6[0] = 0x20;
    v6[1] = 0x01;
    v6[15] = 1;
    assert_eq!(
        Endpoint::new(IpAddr::V6(v6), 7).to_string(),
        "[2001:0:0:0:0:0:0:1]:7"
    );
}
