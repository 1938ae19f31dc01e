//! Library behaviour against a scripted server (no PDs needed): context
//! stamping, the WouldBlock/wait/retry loop, non-blocking sockets,
//! timeouts, malformed answers, and the C API's conversions and errno.

use super::*;
use crate::platform::Deadline;
use alloc::rc::Rc;
use core::cell::RefCell;
use netserver_api::{Request, Response};

type Answer = Box<dyn FnMut(&Request) -> Result<Response, Error>>;

/// A scripted server: records every request and how often the library
/// waited.
#[derive(Clone)]
struct Mock {
    log: Rc<RefCell<Vec<Request>>>,
    waits: Rc<RefCell<usize>>,
    answer: Rc<RefCell<Answer>>,
}

impl Mock {
    fn new(answer: impl FnMut(&Request) -> Result<Response, Error> + 'static) -> Self {
        Mock {
            log: Rc::default(),
            waits: Rc::default(),
            answer: Rc::new(RefCell::new(Box::new(answer))),
        }
    }
    fn requests(&self) -> Vec<Request> {
        self.log.borrow().clone()
    }
    fn waits(&self) -> usize {
        *self.waits.borrow()
    }
}

impl Transport for Mock {
    fn call(&mut self, req: &Request) -> Result<Response, Error> {
        self.log.borrow_mut().push(req.clone());
        (self.answer.borrow_mut())(req)
    }
    fn wait(&mut self, deadline: Option<Deadline>) {
        *self.waits.borrow_mut() += 1;
        if let Some(d) = deadline {
            std::thread::sleep(
                d.saturating_duration_since(std::time::Instant::now())
                    .min(std::time::Duration::from_millis(5)),
            );
        }
    }
}

const B: Endpoint = Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7);

fn connected() -> Response {
    Response::Connected {
        local: Endpoint::new(IpAddr::V4([192, 0, 2, 1]), 49152),
        protection: Protection {
            service: Service::AuthCon,
            level: Level::Require,
            algorithms: AlgSet::of(&[Algorithm::AesGcm256]),
        },
    }
}

fn ctx_of(r: &Request) -> SecurityContext {
    match r {
        Request::Connect { ctx, .. } | Request::Bind { ctx, .. } | Request::SendTo { ctx, .. } => {
            ctx.clone()
        }
        other => panic!("no context in {other:?}"),
    }
}

#[test]
fn templates_are_stamped_afresh_and_stamped_contexts_sent_verbatim() {
    let m = Mock::new(|_| Ok(connected()));
    let mut lib = SecSock::new(m.clone());
    let t = template(Endpoint::ANY, B, ProtectionRequest::default());
    assert!(is_template(&t));
    lib.connect(Socket(1), B, &["cred"], &t).unwrap();
    lib.connect(Socket(2), B, &["cred"], &t).unwrap();
    let reqs = m.requests();
    let (a, b) = (ctx_of(&reqs[0]), ctx_of(&reqs[1]));
    let now = now_unix().unwrap();
    assert!(a.issued.abs_diff(now) <= 2 && b.issued.abs_diff(now) <= 2);
    assert_ne!(a.nonce, [0; 16]);
    assert_ne!(a.nonce, b.nonce, "each call gets a fresh nonce");
    assert_eq!(a.remote, B);
    match &reqs[0] {
        Request::Connect { credentials, .. } => assert_eq!(credentials, &["cred".to_string()]),
        _ => unreachable!(),
    }

    // A stamped context goes out unchanged (so the server can refuse a
    // replay of it).
    let c = context(Endpoint::ANY, B, ProtectionRequest::default()).unwrap();
    assert!(!is_template(&c));
    lib.connect(Socket(3), B, &["cred"], &c).unwrap();
    lib.connect(Socket(4), B, &["cred"], &c).unwrap();
    let reqs = m.requests();
    assert_eq!(ctx_of(&reqs[2]), c);
    assert_eq!(ctx_of(&reqs[3]), c);
}

#[test]
fn would_block_waits_and_retries_with_the_same_context() {
    let mut n = 0;
    let m = Mock::new(move |r| match r {
        Request::Connect { .. } => {
            n += 1;
            if n < 3 {
                Err(Error::WouldBlock)
            } else {
                Ok(connected())
            }
        }
        _ => Ok(Response::Ok),
    });
    let mut lib = SecSock::new(m.clone());
    let t = template(Endpoint::ANY, B, ProtectionRequest::default());
    let c = lib.connect(Socket(1), B, &[""; 0], &t).unwrap();
    assert_eq!(c.protection.level, Level::Require);
    assert_eq!(m.waits(), 2);
    let reqs = m.requests();
    assert_eq!(reqs.len(), 3);
    // The retries carry the same (already vetted) context.
    assert_eq!(ctx_of(&reqs[0]), ctx_of(&reqs[2]));
}

#[test]
fn nonblocking_sockets_get_would_block_without_waiting() {
    let m = Mock::new(|r| match r {
        Request::Socket { .. } => Ok(Response::Socket(5)),
        Request::SetSockOpt { .. } => Ok(Response::Ok),
        _ => Err(Error::WouldBlock),
    });
    let mut lib = SecSock::new(m.clone());
    let s = lib.socket(Proto::Udp).unwrap();
    assert_eq!(s, Socket(5));
    lib.setsockopt(s, SockOptValue::NonBlocking(true)).unwrap();
    assert_eq!(lib.recvfrom(s, 100), Err(Error::WouldBlock));
    assert_eq!(lib.recv(s, 100), Err(Error::WouldBlock));
    assert_eq!(lib.accept(s).map(|_| ()), Err(Error::WouldBlock));
    assert_eq!(m.waits(), 0);
    // The option was also given to the server.
    assert!(m.requests().contains(&Request::SetSockOpt {
        sock: 5,
        value: SockOptValue::NonBlocking(true)
    }));
}

#[test]
fn receive_timeout_bounds_the_wait() {
    let m = Mock::new(|r| match r {
        Request::SetSockOpt { .. } => Ok(Response::Ok),
        _ => Err(Error::WouldBlock),
    });
    let mut lib = SecSock::new(m.clone());
    lib.setsockopt(Socket(1), SockOptValue::RecvTimeout(40))
        .unwrap();
    let t0 = std::time::Instant::now();
    assert_eq!(lib.recv(Socket(1), 10), Err(Error::TimedOut));
    let dt = t0.elapsed();
    assert!(dt >= std::time::Duration::from_millis(40), "{dt:?}");
    assert!(dt < std::time::Duration::from_secs(5), "{dt:?}");
    assert!(m.waits() >= 1);
}

#[test]
fn errors_pass_through_and_wrong_answers_are_protocol_errors() {
    let m = Mock::new(|r| match r {
        Request::Connect { .. } => Err(Error::Refused),
        Request::LastRefusal => Ok(Response::Refusal(Some(Refusal::TrustUnavailable))),
        Request::Close { .. } => Err(Error::BadSocket),
        // Any answer of the wrong kind.
        _ => Ok(Response::Sent(3)),
    });
    let mut lib = SecSock::new(m.clone());
    let t = template(Endpoint::ANY, B, ProtectionRequest::default());
    assert_eq!(lib.connect(Socket(1), B, &["x"], &t), Err(Error::Refused));
    assert_eq!(Error::Refused.errno(), 13);
    assert_eq!(lib.why(), Ok(Some(Refusal::TrustUnavailable)));
    assert_eq!(lib.close(Socket(9)), Err(Error::BadSocket));
    assert_eq!(lib.socket(Proto::Tcp), Err(Error::Protocol));
    assert_eq!(lib.remote_key(Socket(1)), Err(Error::Protocol));
    assert_eq!(lib.remote_credentials(Socket(1)), Err(Error::Protocol));
    assert_eq!(
        lib.getsockopt(Socket(1), SockOpt::Protection),
        Err(Error::Protocol)
    );
    assert_eq!(lib.recv(Socket(1), 1), Err(Error::Protocol));
}

#[test]
fn setsockopt_accepts_the_raise_answer_and_tracks_local_options() {
    let m = Mock::new(|r| match r {
        Request::SetSockOpt {
            value: SockOptValue::RaiseProtection(_),
            ..
        } => Ok(Response::Opt(SockOptValue::Protection(Protection {
            service: Service::AuthCon,
            level: Level::Unique,
            algorithms: AlgSet::all(),
        }))),
        Request::SetSockOpt { .. } => Ok(Response::Ok),
        _ => Err(Error::WouldBlock),
    });
    let mut lib = SecSock::new(m.clone());
    let raise = ProtectionRequest {
        level: Some(Level::Unique),
        ..ProtectionRequest::default()
    };
    assert_eq!(
        lib.setsockopt(Socket(2), SockOptValue::RaiseProtection(raise)),
        Ok(())
    );
    // Only socket 2 is non-blocking.
    lib.setsockopt(Socket(2), SockOptValue::NonBlocking(true))
        .unwrap();
    assert_eq!(lib.recv(Socket(2), 1), Err(Error::WouldBlock));
    assert_eq!(m.waits(), 0);
    lib.setsockopt(Socket(3), SockOptValue::RecvTimeout(10))
        .unwrap();
    assert_eq!(lib.recv(Socket(3), 1), Err(Error::TimedOut));
    assert!(m.waits() >= 1);
}

#[test]
fn send_all_splits_and_stops_on_zero() {
    let m = Mock::new(|r| match r {
        Request::Send { data, .. } => Ok(Response::Sent(data.len().min(3) as u32)),
        _ => Ok(Response::Ok),
    });
    let mut lib = SecSock::new(m.clone());
    lib.send_all(Socket(1), b"hello world").unwrap();
    let sent: Vec<u8> = m
        .requests()
        .iter()
        .map(|r| match r {
            Request::Send { data, .. } => data[..data.len().min(3)].to_vec(),
            _ => Vec::new(),
        })
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(sent, b"hello world");
    // A server claiming more than was sent is clamped.
    let m = Mock::new(|_| Ok(Response::Sent(u32::MAX)));
    let mut lib = SecSock::new(m);
    assert_eq!(lib.send(Socket(1), b"abc"), Ok(3));
    let m = Mock::new(|_| Ok(Response::Sent(0)));
    let mut lib = SecSock::new(m);
    assert_eq!(lib.send_all(Socket(1), b"abc"), Err(Error::NotConnected));
}

#[test]
fn unique_nonce_layout() {
    let n = unique_nonce(0x0102_0304_0506_0708, "client", 0xa0b0_c0d0);
    assert_eq!(&n[..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&n[8..12], &platform::fnv1a32(b"client").to_le_bytes());
    assert_eq!(&n[12..], &[0xd0, 0xc0, 0xb0, 0xa0]);
    // FNV-1a known answers (the reference test vectors).
    assert_eq!(platform::fnv1a32(b""), 0x811c_9dc5);
    assert_eq!(platform::fnv1a32(b"a"), 0xe40c_292c);
    assert_eq!(platform::fnv1a32(b"foobar"), 0xbf9c_f968);
    // Never all zero: a zero nonce with issued 0 would read as a template.
    assert_ne!(unique_nonce(0, "", 0), [0; 16]);
}

#[test]
fn unique_nonces_differ_for_distinct_inputs() {
    use std::collections::HashSet;
    // The PD names of our systems hash apart.
    let names = [
        "client",
        "intruder",
        "lowball",
        "echo",
        "netserver",
        "trust",
        "policyrepo",
        "checker",
        "app",
        "c_client",
    ];
    let hashes: HashSet<u32> = names
        .iter()
        .map(|n| platform::fnv1a32(n.as_bytes()))
        .collect();
    assert_eq!(hashes.len(), names.len());
    // Every combination of counter, name and sequence gives its own nonce,
    // including counters read in the same tick (same value) by different
    // PDs, or by one PD at different sequence numbers.
    let mut seen = HashSet::new();
    for counter in [0u64, 1, 2, 62_500_000, u64::MAX] {
        for name in names {
            for seq in [0u32, 1, 2, 0x8000_0000, u32::MAX] {
                assert!(
                    seen.insert(unique_nonce(counter, name, seq)),
                    "{counter} {name} {seq}"
                );
            }
        }
    }
    assert_eq!(seen.len(), 5 * names.len() * 5);
}

#[test]
fn unique_nonce_sequence_wraps_without_reuse() {
    // One PD, one counter tick: 2^32 sequence numbers give 2^32 nonces.
    // Checked on a sample (all nonces of one tick differ exactly in bytes
    // 12..16, which are the sequence number itself, so they are distinct
    // for all 2^32 values); the wrap from u32::MAX to 0 comes back to
    // sequence 0 only after 2^32 calls, by which time the counter has
    // moved on (it ticks at tens of MHz), so that nonce differs in bytes
    // 0..8.
    let name = "client";
    let a = unique_nonce(1000, name, u32::MAX);
    let b = unique_nonce(1000, name, u32::MAX.wrapping_add(1));
    assert_ne!(a, b);
    assert_eq!(&a[..12], &b[..12]);
    let first = unique_nonce(1000, name, 0);
    let after_wrap = unique_nonce(1000 + (1u64 << 32) / 64, name, 0);
    assert_ne!(first, after_wrap);
    assert_eq!(&first[8..], &after_wrap[8..]);
    for seq in (0..=u32::MAX).step_by(65_521) {
        let n = unique_nonce(1000, name, seq);
        assert_eq!(u32::from_le_bytes([n[12], n[13], n[14], n[15]]), seq);
    }
}

#[allow(unsafe_code)] // the C API takes raw pointers
mod c {
    use super::*;
    use crate::capi::*;
    use core::ffi::c_char;
    use libc::{sockaddr, sockaddr_in, sockaddr_in6, socklen_t};

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    fn sin(a: [u8; 4], port: u16) -> sockaddr_in {
        // SAFETY: plain old data.
        let mut s: sockaddr_in = unsafe { core::mem::zeroed() };
        s.sin_family = libc::AF_INET as _;
        s.sin_port = port.to_be();
        s.sin_addr.s_addr = u32::from_ne_bytes(a);
        s
    }

    #[allow(unsafe_code)]
    fn blank_ctx() -> SecContext {
        // SAFETY: sec_context_init initialises every byte.
        let mut c: SecContext = unsafe { core::mem::zeroed() };
        assert_eq!(unsafe { sec_context_init(&mut c) }, 0);
        c
    }

    #[test]
    #[allow(unsafe_code)]
    fn connect_converts_addresses_context_and_credentials() {
        let m = Mock::new(|_| Ok(connected()));
        install(Box::new(m.clone()));
        let mut ctx = blank_ctx();
        assert_ne!(ctx.nonce, [0; 16]);
        ctx.protection = SecProtection {
            service: 3,
            level: 4,
            algorithms: 0b110,
        };
        let local = sin([0, 0, 0, 0], 0); // ANY, ANY
                                          // SAFETY: writing a sockaddr_in into the sockaddr_storage.
        unsafe { core::ptr::write_unaligned(&mut ctx.local as *mut _ as *mut sockaddr_in, local) };
        let remote6 = {
            // SAFETY: plain old data.
            let mut s: sockaddr_in6 = unsafe { core::mem::zeroed() };
            s.sin6_family = libc::AF_INET6 as _;
            s.sin6_port = 7u16.to_be();
            s.sin6_addr.s6_addr = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
            s
        };
        // SAFETY: as above.
        unsafe {
            core::ptr::write_unaligned(&mut ctx.remote as *mut _ as *mut sockaddr_in6, remote6)
        };
        let texts = [c"cred one".as_ptr(), c"cred two".as_ptr()];
        let cred = SecCred {
            texts: texts.as_ptr(),
            count: 2,
        };
        let rc = unsafe {
            Sec_connect(
                4,
                (&remote6 as *const sockaddr_in6).cast::<sockaddr>(),
                core::mem::size_of::<sockaddr_in6>() as socklen_t,
                &cred,
                &ctx,
            )
        };
        assert_eq!(rc, 0);
        let r = m.requests().pop().unwrap();
        let Request::Connect {
            sock,
            remote,
            ctx: sent,
            credentials,
        } = r
        else {
            panic!()
        };
        assert_eq!(sock, 4);
        let v6 = IpAddr::V6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(remote, Endpoint::new(v6, 7));
        assert_eq!(sent.local, Endpoint::ANY);
        assert_eq!(sent.remote, Endpoint::new(v6, 7));
        assert_eq!(sent.nonce, ctx.nonce);
        assert_eq!(sent.issued, ctx.issued);
        assert_eq!(sent.protection.service, Some(Service::AuthCon));
        assert_eq!(sent.protection.level, Some(Level::Unique));
        assert_eq!(
            sent.protection.algorithms,
            AlgSet::of(&[Algorithm::AesGcm256, Algorithm::ChaCha20Poly1305])
        );
        assert_eq!(
            credentials,
            vec!["cred one".to_string(), "cred two".to_string()]
        );
    }

    #[test]
    #[allow(unsafe_code)]
    fn refusals_set_errno_and_why_explains() {
        let m = Mock::new(|r| match r {
            Request::Connect { .. } => Err(Error::BelowFloor),
            Request::LastRefusal => Ok(Response::Refusal(Some(Refusal::BelowFloor(
                FloorViolation::Level {
                    floor: Level::Require,
                    requested: Level::Use,
                },
            )))),
            _ => Err(Error::Invalid),
        });
        install(Box::new(m));
        let ctx = blank_ctx();
        let to = sin([192, 0, 2, 2], 7);
        let p = (&to as *const sockaddr_in).cast::<sockaddr>();
        let n = core::mem::size_of::<sockaddr_in>() as socklen_t;
        assert_eq!(unsafe { Sec_connect(1, p, n, core::ptr::null(), &ctx) }, -1);
        assert_eq!(errno(), libc::EPERM);
        let mut buf = [0 as c_char; 256];
        let len = unsafe { Sec_why(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: Sec_why NUL-terminates.
        let text = unsafe { core::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap();
        assert_eq!(len as usize, text.len());
        assert!(text.contains("Use") && text.contains("Require"), "{text}");
        // Truncation: snprintf style.
        let mut small = [0 as c_char; 8];
        let full = unsafe { Sec_why(small.as_mut_ptr(), small.len()) };
        assert_eq!(full, len);
        assert_eq!(small[7], 0);
        // Bad arguments never reach the server.
        assert_eq!(
            unsafe { Sec_connect(1, core::ptr::null(), n, core::ptr::null(), &ctx) },
            -1
        );
        assert_eq!(errno(), libc::EFAULT);
        assert_eq!(unsafe { Sec_connect(1, p, 3, core::ptr::null(), &ctx) }, -1);
        assert_eq!(errno(), libc::EINVAL);
        assert_eq!(
            unsafe { Sec_connect(-1, p, n, core::ptr::null(), &ctx) },
            -1
        );
        assert_eq!(errno(), libc::EBADF);
        let mut bad = blank_ctx();
        bad.protection.level = 9;
        assert_eq!(unsafe { Sec_connect(1, p, n, core::ptr::null(), &bad) }, -1);
        assert_eq!(errno(), libc::EINVAL);
        bad.protection.level = SEC_LEVEL_FLOOR;
        bad.protection.algorithms = 1 << 7; // no such algorithm
        assert_eq!(unsafe { Sec_connect(1, p, n, core::ptr::null(), &bad) }, -1);
        assert_eq!(errno(), libc::EINVAL);
        assert_eq!(Sec_socket(libc::AF_UNIX, libc::SOCK_STREAM, 0), -1);
        assert_eq!(errno(), libc::EAFNOSUPPORT);
        assert_eq!(Sec_socket(libc::AF_INET, libc::SOCK_RAW, 0), -1);
        assert_eq!(errno(), libc::ESOCKTNOSUPPORT);
    }

    #[test]
    #[allow(unsafe_code)]
    fn recvfrom_fills_sender_data_and_protection() {
        let m = Mock::new(|r| match r {
            Request::RecvFrom { max_len, .. } => {
                assert_eq!(*max_len, 4);
                Ok(Response::Data {
                    data: b"echo".to_vec(),
                    from: Endpoint::new(IpAddr::V4([192, 0, 2, 2]), 7),
                    protection: InboundProtection {
                        algorithm: Some(Algorithm::ChaCha20Poly1305),
                        spi: Some(0x2003),
                        peer_key: Some("ed25519-hex:00".into()),
                    },
                })
            }
            Request::GetRemoteKey { .. } => Ok(Response::Key("ed25519-hex:abcd".into())),
            Request::GetRemoteCredentials { .. } => {
                Ok(Response::Credentials(vec!["a\n".into(), "b".into()]))
            }
            _ => Err(Error::Invalid),
        });
        install(Box::new(m));
        let mut buf = [0u8; 4];
        let mut from = sin([0; 4], 0);
        let mut fromlen = core::mem::size_of::<sockaddr_in>() as socklen_t;
        let mut how = SecInbound::default();
        let n = unsafe {
            Sec_recvfrom(
                3,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut sockaddr_in).cast(),
                &mut fromlen,
                &mut how,
            )
        };
        assert_eq!(n, 4);
        assert_eq!(&buf, b"echo");
        assert_eq!(u16::from_be(from.sin_port), 7);
        assert_eq!(from.sin_addr.s_addr.to_ne_bytes(), [192, 0, 2, 2]);
        assert_eq!(fromlen as usize, core::mem::size_of::<sockaddr_in>());
        assert_eq!(
            how,
            SecInbound {
                algorithm: 1 << 2,
                spi: 0x2003
            }
        );
        let mut key = [0 as c_char; 64];
        assert_eq!(
            unsafe { Sec_getremoteKey(3, key.as_mut_ptr(), key.len()) },
            16
        );
        let mut creds = [0 as c_char; 64];
        assert_eq!(
            unsafe { Sec_getremoteCredentials(3, creds.as_mut_ptr(), creds.len()) },
            6
        );
        // SAFETY: NUL-terminated by the call.
        let t = unsafe { core::ffi::CStr::from_ptr(creds.as_ptr()) };
        assert_eq!(t.to_bytes(), b"a\n\nb\n\n");
    }

    #[test]
    #[allow(unsafe_code)]
    fn sockopts_round_trip_through_c() {
        let m = Mock::new(|r| match r {
            Request::GetSockOpt {
                opt: SockOpt::Protection,
                ..
            } => Ok(Response::Opt(SockOptValue::Protection(Protection {
                service: Service::AuthCon,
                level: Level::Require,
                algorithms: AlgSet::of(&[Algorithm::AesGcm128]),
            }))),
            Request::SetSockOpt {
                value: SockOptValue::RaiseProtection(p),
                ..
            } => {
                if p.level == Some(Level::Use) {
                    Err(Error::BelowFloor)
                } else {
                    Ok(Response::Ok)
                }
            }
            _ => Err(Error::Invalid),
        });
        install(Box::new(m.clone()));
        let mut p = SecProtection::default();
        let mut len = core::mem::size_of::<SecProtection>() as socklen_t;
        let rc = unsafe {
            Sec_getsockopt(
                2,
                SOL_SECSOCK,
                SEC_OPT_PROTECTION,
                (&mut p as *mut SecProtection).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(
            p,
            SecProtection {
                service: 3,
                level: 3,
                algorithms: 1
            }
        );
        let low = SecProtection {
            service: 0,
            level: 2,
            algorithms: 0,
        };
        let sz = core::mem::size_of::<SecProtection>() as socklen_t;
        let rc = unsafe {
            Sec_setsockopt(
                2,
                SOL_SECSOCK,
                SEC_OPT_PROTECTION,
                (&low as *const SecProtection).cast(),
                sz,
            )
        };
        assert_eq!(rc, -1);
        assert_eq!(errno(), libc::EPERM);
        let rc = unsafe {
            Sec_setsockopt(
                2,
                1,
                SEC_OPT_PROTECTION,
                (&low as *const SecProtection).cast(),
                sz,
            )
        };
        assert_eq!(rc, -1);
        assert_eq!(errno(), libc::ENOPROTOOPT);
    }
}
