//! The C API (`include/secsock.h`): BSD-socket-shaped `Sec_*` functions over
//! one library instance per thread (a PD is single-threaded).
//!
//! Every function returns -1 (or a null-equivalent documented in the
//! header) and sets `errno` on failure: the [`Error::errno`] value of the
//! server's error, `EFAULT` for a null pointer that must not be null,
//! `EINVAL` for a malformed argument, `EAFNOSUPPORT` for an address family
//! other than `AF_INET`/`AF_INET6`, and `EINPROGRESS` for a non-blocking
//! `Sec_connect` still under way.
//!
//! This module is the FFI boundary: it dereferences the raw pointers C
//! callers pass, so it allows `unsafe`; each use says what it relies on (the
//! C caller's contract in the header).
#![allow(unsafe_code)]
#![allow(clippy::missing_safety_doc)]

use crate::{SecSock, Socket, Transport};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ffi::{c_char, c_int, c_void, CStr};
use libc::{sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage, socklen_t, ssize_t};
use netserver_api::{
    AlgSet, Algorithm, Endpoint, Error, IpAddr, Level, Protection, ProtectionRequest, Proto,
    SecurityContext, Service, SockOpt, SockOptValue,
};

/// `SOL_SECSOCK`: the option level of `Sec_getsockopt`/`Sec_setsockopt`.
pub const SOL_SECSOCK: c_int = 0x5ec;
/// `SEC_OPT_PROTECTION`: `struct sec_protection` (get: in force; set: raise).
pub const SEC_OPT_PROTECTION: c_int = 1;
/// `SEC_OPT_RCVTIMEO`: `uint32_t` milliseconds, 0 = forever.
pub const SEC_OPT_RCVTIMEO: c_int = 2;
/// `SEC_OPT_NONBLOCK`: `int`, non-zero = non-blocking.
pub const SEC_OPT_NONBLOCK: c_int = 3;
/// `SEC_LEVEL_FLOOR`: take the level from the administrator's floor.
pub const SEC_LEVEL_FLOOR: i32 = -1;
/// `SEC_DEFAULT`: take the service from the administrator's floor.
pub const SEC_DEFAULT: u32 = 0;

/// `struct sec_protection`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecProtection {
    /// `SEC_AUTH`, `SEC_CON`, `SEC_AUTH_CON`, or `SEC_DEFAULT` (0).
    pub service: u32,
    /// `SEC_LEVEL_*` (OpenBSD's values), or `SEC_LEVEL_FLOOR` (-1).
    pub level: i32,
    /// `SEC_ALG_*` flags; 0 = what the floor allows.
    pub algorithms: u32,
}

/// `struct sec_context`.
#[repr(C)]
pub struct SecContext {
    /// Local endpoint; unspecified address or `AF_UNSPEC` = ANY, port 0 = ANY.
    pub local: sockaddr_storage,
    /// Remote endpoint; same conventions.
    pub remote: sockaddr_storage,
    /// Seconds since the Unix epoch; 0 with an all-zero nonce = template.
    pub issued: u64,
    /// Fresh random bytes.
    pub nonce: [u8; 16],
    /// Requested protection.
    pub protection: SecProtection,
    /// Signature bytes (may be null when `signature_len` is 0).
    pub signature: *const u8,
    /// Length of `signature`.
    pub signature_len: usize,
}

/// `struct sec_cred`.
#[repr(C)]
pub struct SecCred {
    /// `count` NUL-terminated KeyNote credential texts.
    pub texts: *const *const c_char,
    /// How many.
    pub count: usize,
}

/// `struct sec_inbound`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecInbound {
    /// The `SEC_ALG_*` flag of the ESP transform, 0 = unprotected.
    pub algorithm: u32,
    /// The SPI of the inbound SA (0 when unprotected).
    pub spi: u32,
}

type Lib = SecSock<Box<dyn Transport>>;

impl Transport for Box<dyn Transport> {
    fn call(&mut self, req: &netserver_api::Request) -> Result<netserver_api::Response, Error> {
        (**self).call(req)
    }
    fn wait(&mut self, deadline: Option<crate::platform::Deadline>) {
        (**self).wait(deadline)
    }
}

std::thread_local! {
    static LIB: RefCell<Option<Lib>> = const { RefCell::new(None) };
}

/// Makes the C API of this thread use `t` (tests; a PD uses its channel 0
/// without calling this).
pub fn install(t: Box<dyn Transport>) {
    LIB.with(|l| *l.borrow_mut() = Some(SecSock::new(t)));
}

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot,
    // valid for the thread's lifetime.
    unsafe { *libc::__errno_location() = e };
}

/// Runs `f` on this thread's library (made on first use over channel 0);
/// an error sets errno and gives `fail`.
fn with<R>(fail: R, f: impl FnOnce(&mut Lib) -> Result<R, c_int>) -> R {
    let r = LIB.with(|l| {
        let mut l = l.borrow_mut();
        if l.is_none() {
            match crate::PdTransport::new() {
                Ok(t) => *l = Some(SecSock::new(Box::new(t))),
                Err(e) => return Err(e.errno()),
            }
        }
        match l.as_mut() {
            Some(lib) => f(lib),
            None => Err(Error::Unreachable.errno()),
        }
    });
    match r {
        Ok(v) => v,
        Err(e) => {
            set_errno(e);
            fail
        }
    }
}

fn err(e: Error) -> c_int {
    e.errno()
}

fn sock(s: c_int) -> Result<Socket, c_int> {
    u32::try_from(s).map(Socket).map_err(|_| libc::EBADF)
}

fn fd(s: Socket) -> Result<c_int, c_int> {
    c_int::try_from(s.0).map_err(|_| libc::EMFILE)
}

/// Reads a sockaddr of `len` bytes into an endpoint (ANY conventions).
unsafe fn endpoint(addr: *const sockaddr, len: socklen_t) -> Result<Endpoint, c_int> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    let len = len as usize;
    if len < core::mem::size_of::<libc::sa_family_t>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller gives `len` readable bytes at `addr` (header
    // contract), and `len` covers the family field; unaligned reads since C
    // may pass any buffer.
    let family = unsafe { core::ptr::read_unaligned(addr.cast::<libc::sa_family_t>()) };
    match c_int::from(family) {
        libc::AF_UNSPEC => Ok(Endpoint::ANY),
        libc::AF_INET => {
            if len < core::mem::size_of::<sockaddr_in>() {
                return Err(libc::EINVAL);
            }
            // SAFETY: `len` bytes are readable and cover a sockaddr_in.
            let sin = unsafe { core::ptr::read_unaligned(addr.cast::<sockaddr_in>()) };
            let a = sin.sin_addr.s_addr.to_ne_bytes();
            let port = u16::from_be(sin.sin_port);
            Ok(Endpoint {
                addr: (a != [0; 4]).then_some(IpAddr::V4(a)),
                port: (port != 0).then_some(port),
            })
        }
        libc::AF_INET6 => {
            if len < core::mem::size_of::<sockaddr_in6>() {
                return Err(libc::EINVAL);
            }
            // SAFETY: `len` bytes are readable and cover a sockaddr_in6.
            let sin6 = unsafe { core::ptr::read_unaligned(addr.cast::<sockaddr_in6>()) };
            let a = sin6.sin6_addr.s6_addr;
            let port = u16::from_be(sin6.sin6_port);
            Ok(Endpoint {
                addr: (a != [0; 16]).then_some(IpAddr::V6(a)),
                port: (port != 0).then_some(port),
            })
        }
        _ => Err(libc::EAFNOSUPPORT),
    }
}

/// The sockaddr bytes of an endpoint (ANY address: unspecified address of
/// the family, IPv4 when unknown; ANY port: 0).
fn sockaddr_bytes(e: &Endpoint) -> Vec<u8> {
    let port = e.port.unwrap_or(0).to_be();
    match e.addr {
        Some(IpAddr::V6(a)) => {
            // SAFETY: sockaddr_in6 is plain old data; all zeroes is valid.
            let mut s: sockaddr_in6 = unsafe { core::mem::zeroed() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = port;
            s.sin6_addr.s6_addr = a;
            // SAFETY: reading the bytes of a plain-old-data value.
            unsafe { pod_bytes(&s) }
        }
        other => {
            let a = match other {
                Some(IpAddr::V4(a)) => a,
                _ => [0; 4],
            };
            // SAFETY: sockaddr_in is plain old data; all zeroes is valid.
            let mut s: sockaddr_in = unsafe { core::mem::zeroed() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = port;
            s.sin_addr.s_addr = u32::from_ne_bytes(a);
            // SAFETY: reading the bytes of a plain-old-data value.
            unsafe { pod_bytes(&s) }
        }
    }
}

/// The bytes of a `repr(C)` plain-old-data value without padding holes
/// that matter (sockaddr_in/in6 are zeroed first).
unsafe fn pod_bytes<T>(v: &T) -> Vec<u8> {
    // SAFETY: `v` is a valid reference to size_of::<T>() initialised bytes
    // (the sockaddr types were zeroed before their fields were set).
    unsafe { core::slice::from_raw_parts((v as *const T).cast::<u8>(), core::mem::size_of::<T>()) }
        .to_vec()
}

/// Writes an endpoint into a caller's (addr, *len) pair, BSD style:
/// truncated to `*len`, `*len` set to the full size. Null `addr` skips.
unsafe fn put_endpoint(
    e: &Endpoint,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> Result<(), c_int> {
    if addr.is_null() {
        return Ok(());
    }
    if len.is_null() {
        return Err(libc::EFAULT);
    }
    let bytes = sockaddr_bytes(e);
    // SAFETY: `len` is non-null and points to the caller's socklen_t.
    let room = unsafe { *len } as usize;
    let n = room.min(bytes.len());
    // SAFETY: the caller gives `*len` writable bytes at `addr`.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.cast::<u8>(), n);
        *len = bytes.len() as socklen_t;
    }
    Ok(())
}

fn alg_flag(a: Algorithm) -> u32 {
    u32::from(AlgSet::of(&[a]).bits())
}

fn protection_request(p: &SecProtection) -> Result<ProtectionRequest, c_int> {
    let service = match p.service {
        SEC_DEFAULT => None,
        v => Some(Service::from_c(v).ok_or(libc::EINVAL)?),
    };
    let level = match p.level {
        SEC_LEVEL_FLOOR => None,
        v => Some(
            u32::try_from(v)
                .ok()
                .and_then(Level::from_c)
                .ok_or(libc::EINVAL)?,
        ),
    };
    let bits = u8::try_from(p.algorithms).map_err(|_| libc::EINVAL)?;
    let algorithms = AlgSet::from_bits(bits);
    if !algorithms.is_subset(AlgSet::all()) || bits & !AlgSet::all().bits() != 0 {
        return Err(libc::EINVAL);
    }
    Ok(ProtectionRequest {
        service,
        level,
        algorithms,
    })
}

fn protection_c(p: &Protection) -> SecProtection {
    SecProtection {
        service: p.service.to_c(),
        level: p.level.to_c() as i32,
        algorithms: u32::from(p.algorithms.bits()),
    }
}

unsafe fn context(ctx: *const SecContext) -> Result<SecurityContext, c_int> {
    if ctx.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: non-null, and the caller passes a valid struct sec_context.
    let c = unsafe { &*ctx };
    let size = core::mem::size_of::<sockaddr_storage>() as socklen_t;
    // SAFETY: the endpoints are sockaddr_storage fields of a valid struct.
    let local = unsafe { endpoint((&c.local as *const sockaddr_storage).cast(), size)? };
    // SAFETY: as above.
    let remote = unsafe { endpoint((&c.remote as *const sockaddr_storage).cast(), size)? };
    let signature = if c.signature_len == 0 {
        Vec::new()
    } else if c.signature.is_null() {
        return Err(libc::EFAULT);
    } else {
        // SAFETY: the caller gives signature_len readable bytes.
        unsafe { core::slice::from_raw_parts(c.signature, c.signature_len) }.to_vec()
    };
    Ok(SecurityContext {
        local,
        remote,
        issued: c.issued,
        nonce: c.nonce,
        protection: protection_request(&c.protection)?,
        signature,
    })
}

unsafe fn credentials(cred: *const SecCred) -> Result<Vec<String>, c_int> {
    if cred.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY: non-null, a valid struct sec_cred by the caller's contract.
    let c = unsafe { &*cred };
    if c.count == 0 {
        return Ok(Vec::new());
    }
    if c.texts.is_null() {
        return Err(libc::EFAULT);
    }
    let mut out = Vec::with_capacity(c.count.min(64));
    for i in 0..c.count {
        // SAFETY: `texts` has `count` entries.
        let p = unsafe { *c.texts.add(i) };
        if p.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: each entry is a NUL-terminated string.
        let s = unsafe { CStr::from_ptr(p) };
        out.push(String::from(s.to_str().map_err(|_| libc::EINVAL)?));
    }
    Ok(out)
}

/// snprintf-style string out: writes at most `len - 1` bytes and a NUL,
/// returns the full length.
unsafe fn put_string(s: &str, buf: *mut c_char, len: usize) -> Result<ssize_t, c_int> {
    if len > 0 {
        if buf.is_null() {
            return Err(libc::EFAULT);
        }
        let n = s.len().min(len - 1);
        // SAFETY: the caller gives `len` writable bytes at `buf`.
        unsafe {
            core::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    }
    ssize_t::try_from(s.len()).map_err(|_| libc::EOVERFLOW)
}

/// `Sec_socket(domain, type, protocol)`.
#[no_mangle]
pub extern "C" fn Sec_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    with(-1, |lib| {
        if domain != libc::AF_INET && domain != libc::AF_INET6 {
            return Err(libc::EAFNOSUPPORT);
        }
        let nonblock = ty & libc::SOCK_NONBLOCK != 0;
        let proto = match (ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC), protocol) {
            (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Proto::Tcp,
            (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Proto::Udp,
            (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => return Err(libc::EPROTONOSUPPORT),
            _ => return Err(libc::ESOCKTNOSUPPORT),
        };
        let s = lib.socket(proto).map_err(err)?;
        if nonblock {
            if let Err(e) = lib.setsockopt(s, SockOptValue::NonBlocking(true)) {
                let _ = lib.close(s);
                return Err(err(e));
            }
        }
        fd(s)
    })
}

/// `Sec_connect(s, name, namelen, cred, ctx)`.
#[no_mangle]
pub unsafe extern "C" fn Sec_connect(
    s: c_int,
    name: *const sockaddr,
    namelen: socklen_t,
    cred: *const SecCred,
    ctx: *const SecContext,
) -> c_int {
    with(-1, |lib| {
        let s = sock(s)?;
        // SAFETY: pointers per the header's contract.
        let (remote, creds, ctx) =
            unsafe { (endpoint(name, namelen)?, credentials(cred)?, context(ctx)?) };
        match lib.connect(s, remote, &creds, &ctx) {
            Ok(_) => Ok(0),
            Err(Error::WouldBlock) => Err(libc::EINPROGRESS),
            Err(e) => Err(err(e)),
        }
    })
}

/// `Sec_bind(s, name, namelen, cred, ctx)`.
#[no_mangle]
pub unsafe extern "C" fn Sec_bind(
    s: c_int,
    name: *const sockaddr,
    namelen: socklen_t,
    cred: *const SecCred,
    ctx: *const SecContext,
) -> c_int {
    with(-1, |lib| {
        let s = sock(s)?;
        // SAFETY: pointers per the header's contract.
        let (local, creds, ctx) =
            unsafe { (endpoint(name, namelen)?, credentials(cred)?, context(ctx)?) };
        lib.bind(s, local, &creds, &ctx).map(|_| 0).map_err(err)
    })
}

/// `Sec_listen(s, backlog)`.
#[no_mangle]
pub extern "C" fn Sec_listen(s: c_int, backlog: c_int) -> c_int {
    with(-1, |lib| {
        let backlog = u16::try_from(backlog.max(1)).unwrap_or(u16::MAX);
        lib.listen(sock(s)?, backlog).map(|_| 0).map_err(err)
    })
}

/// `Sec_accept(s, addr, addrlen)`.
#[no_mangle]
pub unsafe extern "C" fn Sec_accept(
    s: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_int {
    with(-1, |lib| {
        let (n, peer) = lib.accept(sock(s)?).map_err(err)?;
        // SAFETY: pointers per the header's contract.
        unsafe { put_endpoint(&peer, addr, addrlen)? };
        fd(n)
    })
}

/// `Sec_send(s, buf, len, flags)`.
#[no_mangle]
pub unsafe extern "C" fn Sec_send(
    s: c_int,
    buf: *const c_void,
    len: usize,
    _flags: c_int,
) -> ssize_t {
    with(-1, |lib| {
        let s = sock(s)?;
        let data = if len == 0 {
            &[][..]
        } else if buf.is_null() {
            return Err(libc::EFAULT);
        } else {
            // SAFETY: the caller gives `len` readable bytes.
            unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) }
        };
        let n = lib.send(s, data).map_err(err)?;
        ssize_t::try_from(n).map_err(|_| libc::EOVERFLOW)
    })
}

/// Copies received data into the caller's buffer, fills `how`.
unsafe fn deliver(
    r: &crate::Received,
    buf: *mut c_void,
    len: usize,
    how: *mut SecInbound,
) -> Result<ssize_t, c_int> {
    let n = r.data.len().min(len);
    if n > 0 {
        if buf.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: the caller gives `len` >= n writable bytes.
        unsafe { core::ptr::copy_nonoverlapping(r.data.as_ptr(), buf.cast::<u8>(), n) };
    }
    if !how.is_null() {
        // SAFETY: non-null, points to the caller's struct sec_inbound.
        unsafe {
            *how = SecInbound {
                algorithm: r.protection.algorithm.map_or(0, alg_flag),
                spi: r.protection.spi.unwrap_or(0),
            }
        };
    }
    ssize_t::try_from(n).map_err(|_| libc::EOVERFLOW)
}

/// `Sec_recv(s, buf, len, flags)`.
#[no_mangle]
pub unsafe extern "C" fn Sec_recv(
    s: c_int,
    buf: *mut c_void,
    len: usize,
    _flags: c_int,
) -> ssize_t {
    with(-1, |lib| {
        let r = lib.recv(sock(s)?, len).map_err(err)?;
        // SAFETY: pointers per the header's contract.
        unsafe { deliver(&r, buf, len, core::ptr::null_mut()) }
    })
}

/// `Sec_sendto(s, msg, len, flags, to, tolen, cred, ctx)`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn Sec_sendto(
    s: c_int,
    msg: *const c_void,
    len: usize,
    _flags: c_int,
    to: *const sockaddr,
    tolen: socklen_t,
    cred: *const SecCred,
    ctx: *const SecContext,
) -> ssize_t {
    with(-1, |lib| {
        let s = sock(s)?;
        // SAFETY: pointers per the header's contract.
        let (remote, creds, ctx) =
            unsafe { (endpoint(to, tolen)?, credentials(cred)?, context(ctx)?) };
        let data = if len == 0 {
            &[][..]
        } else if msg.is_null() {
            return Err(libc::EFAULT);
        } else {
            // SAFETY: the caller gives `len` readable bytes.
            unsafe { core::slice::from_raw_parts(msg.cast::<u8>(), len) }
        };
        let n = lib.sendto(s, data, remote, &creds, &ctx).map_err(err)?;
        ssize_t::try_from(n).map_err(|_| libc::EOVERFLOW)
    })
}

/// `Sec_recvfrom(s, buf, len, flags, from, fromlen, how)`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn Sec_recvfrom(
    s: c_int,
    buf: *mut c_void,
    len: usize,
    _flags: c_int,
    from: *mut sockaddr,
    fromlen: *mut socklen_t,
    how: *mut SecInbound,
) -> ssize_t {
    with(-1, |lib| {
        let r = lib.recvfrom(sock(s)?, len).map_err(err)?;
        // SAFETY: pointers per the header's contract.
        unsafe {
            put_endpoint(&r.from, from, fromlen)?;
            deliver(&r, buf, len, how)
        }
    })
}

/// `Sec_close(s)`.
#[no_mangle]
pub extern "C" fn Sec_close(s: c_int) -> c_int {
    with(-1, |lib| lib.close(sock(s)?).map(|_| 0).map_err(err))
}

/// `Sec_getsockopt(s, level, optname, optval, optlen)`.
#[no_mangle]
pub unsafe extern "C" fn Sec_getsockopt(
    s: c_int,
    level: c_int,
    optname: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
) -> c_int {
    with(-1, |lib| {
        if level != SOL_SECSOCK {
            return Err(libc::ENOPROTOOPT);
        }
        if optval.is_null() || optlen.is_null() {
            return Err(libc::EFAULT);
        }
        let s = sock(s)?;
        let opt = match optname {
            SEC_OPT_PROTECTION => SockOpt::Protection,
            SEC_OPT_RCVTIMEO => SockOpt::RecvTimeout,
            SEC_OPT_NONBLOCK => SockOpt::NonBlocking,
            _ => return Err(libc::ENOPROTOOPT),
        };
        let bytes: Vec<u8> = match lib.getsockopt(s, opt).map_err(err)? {
            SockOptValue::Protection(p) => {
                let c = protection_c(&p);
                [
                    c.service.to_ne_bytes(),
                    c.level.to_ne_bytes(),
                    c.algorithms.to_ne_bytes(),
                ]
                .concat()
            }
            SockOptValue::RecvTimeout(ms) => ms.to_ne_bytes().to_vec(),
            SockOptValue::NonBlocking(b) => c_int::from(b).to_ne_bytes().to_vec(),
            SockOptValue::RaiseProtection(_) => return Err(libc::EPROTO),
        };
        // SAFETY: optlen non-null, the caller's socklen_t.
        let room = unsafe { *optlen } as usize;
        if room < bytes.len() {
            return Err(libc::EINVAL);
        }
        // SAFETY: the caller gives *optlen >= bytes.len() writable bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), optval.cast::<u8>(), bytes.len());
            *optlen = bytes.len() as socklen_t;
        }
        Ok(0)
    })
}

/// `Sec_setsockopt(s, level, optname, optval, optlen)`.
#[no_mangle]
pub unsafe extern "C" fn Sec_setsockopt(
    s: c_int,
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    optlen: socklen_t,
) -> c_int {
    with(-1, |lib| {
        if level != SOL_SECSOCK {
            return Err(libc::ENOPROTOOPT);
        }
        if optval.is_null() {
            return Err(libc::EFAULT);
        }
        let s = sock(s)?;
        let len = optlen as usize;
        let value = match optname {
            SEC_OPT_PROTECTION => {
                if len < core::mem::size_of::<SecProtection>() {
                    return Err(libc::EINVAL);
                }
                // SAFETY: `optlen` readable bytes cover a struct sec_protection.
                let p = unsafe { core::ptr::read_unaligned(optval.cast::<SecProtection>()) };
                SockOptValue::RaiseProtection(protection_request(&p)?)
            }
            SEC_OPT_RCVTIMEO => {
                if len < 4 {
                    return Err(libc::EINVAL);
                }
                // SAFETY: at least 4 readable bytes.
                SockOptValue::RecvTimeout(unsafe {
                    core::ptr::read_unaligned(optval.cast::<u32>())
                })
            }
            SEC_OPT_NONBLOCK => {
                if len < core::mem::size_of::<c_int>() {
                    return Err(libc::EINVAL);
                }
                // SAFETY: an int's worth of readable bytes.
                SockOptValue::NonBlocking(
                    unsafe { core::ptr::read_unaligned(optval.cast::<c_int>()) } != 0,
                )
            }
            _ => return Err(libc::ENOPROTOOPT),
        };
        lib.setsockopt(s, value).map(|_| 0).map_err(err)
    })
}

/// `Sec_getremoteCredentials(s, buf, len)`: every credential followed by a
/// blank line; snprintf-style.
#[no_mangle]
pub unsafe extern "C" fn Sec_getremoteCredentials(
    s: c_int,
    buf: *mut c_char,
    len: usize,
) -> ssize_t {
    with(-1, |lib| {
        let creds = lib.remote_credentials(sock(s)?).map_err(err)?;
        let mut text = String::new();
        for c in creds {
            text.push_str(c.trim_end_matches('\n'));
            text.push_str("\n\n");
        }
        // SAFETY: buffer per the header's contract.
        unsafe { put_string(&text, buf, len) }
    })
}

/// `Sec_getremoteKey(s, buf, len)`: snprintf-style.
#[no_mangle]
pub unsafe extern "C" fn Sec_getremoteKey(s: c_int, buf: *mut c_char, len: usize) -> ssize_t {
    with(-1, |lib| {
        let key = lib.remote_key(sock(s)?).map_err(err)?;
        // SAFETY: buffer per the header's contract.
        unsafe { put_string(&key, buf, len) }
    })
}

/// `Sec_why(buf, len)`: why the last request was refused; 0 and an empty
/// string when nothing was; snprintf-style.
#[no_mangle]
pub unsafe extern "C" fn Sec_why(buf: *mut c_char, len: usize) -> ssize_t {
    with(-1, |lib| {
        let text = match lib.why().map_err(err)? {
            Some(r) => alloc::format!("{r}"),
            None => String::new(),
        };
        // SAFETY: buffer per the header's contract.
        unsafe { put_string(&text, buf, len) }
    })
}

/// `sec_context_init(ctx)`: ANY endpoints, the floor's protection, no
/// signature, and a fresh issued time and nonce.
#[no_mangle]
pub unsafe extern "C" fn sec_context_init(ctx: *mut SecContext) -> c_int {
    if ctx.is_null() {
        set_errno(libc::EFAULT);
        return -1;
    }
    // SAFETY: non-null; the caller passes room for a struct sec_context;
    // all-zero bytes are a valid value of it (null signature pointer).
    unsafe {
        core::ptr::write_bytes(ctx, 0, 1);
        (*ctx).protection = SecProtection {
            service: SEC_DEFAULT,
            level: SEC_LEVEL_FLOOR,
            algorithms: 0,
        };
        sec_context_stamp(ctx)
    }
}

/// `sec_context_stamp(ctx)`: a fresh issued time and nonce.
#[no_mangle]
pub unsafe extern "C" fn sec_context_stamp(ctx: *mut SecContext) -> c_int {
    if ctx.is_null() {
        set_errno(libc::EFAULT);
        return -1;
    }
    let (issued, nonce) = match (crate::now_unix(), crate::fresh_nonce()) {
        (Ok(t), Ok(n)) => (t, n),
        (Err(e), _) | (_, Err(e)) => {
            set_errno(e.errno());
            return -1;
        }
    };
    // SAFETY: non-null, the caller's struct sec_context.
    unsafe {
        (*ctx).issued = issued;
        (*ctx).nonce = nonce;
    }
    0
}

/// `secsock_pd_main(app)`: runs `app` as this protection domain's program
/// on the host backend (for C programs started by `vetted run`); the PD
/// stops when `app` returns (status 0 is a clean stop).
#[no_mangle]
pub extern "C" fn secsock_pd_main(app: Option<extern "C" fn() -> c_int>) -> c_int {
    let Some(app) = app else {
        set_errno(libc::EFAULT);
        return -1;
    };
    microkit::_private::run_main(move || -> microkit::NullHandler {
        let rc = app();
        // SAFETY: fflush(NULL) flushes every C stdio stream.
        unsafe { libc::fflush(core::ptr::null_mut()) };
        if rc == 0 {
            microkit::stop()
        }
        std::process::exit(rc)
    })
}
