/*
 * secsock.h - the vetted secure-socket API for C applications (C99).
 *
 * Every connection an application makes or accepts is vetted first: the
 * request carries the application's KeyNote credentials and a security
 * context, the network server has it decided by the trust server against the
 * node's policy, and only then opens it, protected by IPsec ESP as the policy
 * and the administrator's floor demand. Applications never hold keys.
 *
 * Link with the static library of the `secsock` crate (libsecsock.a, built
 * by `cargo build -p secsock`) and -lpthread -ldl -lm. A C program runs as a
 * protection domain by handing its code to secsock_pd_main() from main().
 *
 * Errors: functions return -1 and set errno:
 *   EBADF          not a socket of this application
 *   EACCES         refused by policy (ask Sec_why() why)
 *   EPERM          asked for less than the administrator's floor (Sec_why())
 *   EADDRINUSE     address in use, or a port of another application
 *   EADDRNOTAVAIL  no free local port
 *   ECONNREFUSED   the peer refused or reset the connection
 *   ENOTCONN       not connected
 *   EAGAIN         non-blocking socket, nothing to do yet
 *   EINPROGRESS    non-blocking Sec_connect under way (call it again)
 *   ETIMEDOUT      SEC_OPT_RCVTIMEO expired
 *   EINVAL         bad argument or state (also: a context not matching the call)
 *   EMSGSIZE       message too large
 *   ENOBUFS        the server is out of sockets or buffers
 *   EOPNOTSUPP     not supported for this socket (e.g. level UNIQUE for now)
 *   EPROTO         malformed exchange with the network server
 *   EHOSTUNREACH   the network server is not reachable
 *   EFAULT         a required pointer is NULL
 *   EAFNOSUPPORT   address family other than AF_INET / AF_INET6
 *
 * Blocking: calls block until they can complete (the library waits for the
 * network server's notification), unless the socket is non-blocking
 * (SOCK_NONBLOCK in Sec_socket's type, or SEC_OPT_NONBLOCK).
 *
 * Threads: one library instance per thread; a PD is single-threaded.
 */
#ifndef VETTED_SECSOCK_H
#define VETTED_SECSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Services (struct sec_protection.service). */
#define SEC_DEFAULT   0u /* the administrator's floor */
#define SEC_AUTH      1u /* integrity and origin authentication */
#define SEC_CON       2u /* confidentiality (always with integrity here) */
#define SEC_AUTH_CON  3u /* confidentiality and integrity */

/* Levels (struct sec_protection.level), OpenBSD's IPSEC_LEVEL_* values. */
#define SEC_LEVEL_FLOOR   (-1) /* the administrator's floor */
#define SEC_LEVEL_BYPASS  0    /* no IPsec */
#define SEC_LEVEL_AVAIL   1    /* protect if an SA is available */
#define SEC_LEVEL_USE     2    /* protect outbound; accept clear inbound */
#define SEC_LEVEL_REQUIRE 3    /* protect outbound; require protected inbound */
#define SEC_LEVEL_UNIQUE  4    /* as REQUIRE, with an SA of this socket's own */

/* Algorithm flags (struct sec_protection.algorithms; 0 = any the floor allows). */
#define SEC_ALG_AES_GCM_128        (1u << 0)
#define SEC_ALG_AES_GCM_256        (1u << 1)
#define SEC_ALG_CHACHA20_POLY1305  (1u << 2)
#define SEC_ALG_AES_GMAC_128       (1u << 3) /* integrity only */
#define SEC_ALG_AES_GMAC_256       (1u << 4) /* integrity only */

/* Socket options: level SOL_SECSOCK. */
#define SOL_SECSOCK         0x5ec
#define SEC_OPT_PROTECTION  1 /* struct sec_protection: get = in force, set = raise (never lower) */
#define SEC_OPT_RCVTIMEO    2 /* uint32_t milliseconds, 0 = forever (recv, recvfrom, accept) */
#define SEC_OPT_NONBLOCK    3 /* int, non-zero = non-blocking */

/* Requested (or, from Sec_getsockopt, actual) protection. */
struct sec_protection {
    uint32_t service;    /* SEC_AUTH, SEC_CON, SEC_AUTH_CON or SEC_DEFAULT */
    int32_t level;       /* SEC_LEVEL_* or SEC_LEVEL_FLOOR */
    uint32_t algorithms; /* SEC_ALG_* flags, 0 = the floor's */
};

/*
 * The security context of Sec_connect, Sec_bind and Sec_sendto.
 * Endpoints: AF_UNSPEC or the unspecified address (0.0.0.0, ::) = ANY
 * address; port 0 = ANY port. The network server accepts a context once
 * (issued time within its window, nonce never seen): call
 * sec_context_stamp() before reusing one, or leave issued = 0 and the nonce
 * all zero (a template): the library then stamps a fresh copy at each call.
 */
struct sec_context {
    struct sockaddr_storage local;
    struct sockaddr_storage remote;
    uint64_t issued;          /* seconds since the Unix epoch */
    uint8_t nonce[16];        /* fresh random bytes (getrandom(2) on the host) */
    struct sec_protection protection;
    const uint8_t *signature; /* for contexts crossing nodes; NULL inside a node */
    size_t signature_len;
};

/* KeyNote credentials the application presents (public, signed text). */
struct sec_cred {
    const char *const *texts; /* count NUL-terminated credential texts */
    size_t count;
};

/* How received data was protected. */
struct sec_inbound {
    uint32_t algorithm; /* SEC_ALG_* flag of the ESP transform, 0 = unprotected */
    uint32_t spi;       /* SPI of the inbound SA, 0 = unprotected */
};

/* Fills ctx: ANY endpoints, the floor's protection, no signature, issued
 * now, a fresh nonce. 0, or -1 and errno. */
int sec_context_init(struct sec_context *ctx);
/* A fresh issued time and nonce. 0, or -1 and errno. */
int sec_context_stamp(struct sec_context *ctx);

/* domain AF_INET or AF_INET6; type SOCK_STREAM or SOCK_DGRAM, optionally
 * | SOCK_NONBLOCK; protocol 0 or the matching IPPROTO_*. A socket, or -1. */
int Sec_socket(int domain, int type, int protocol);
/* Vets and opens a connection; blocks until established. cred may be NULL. */
int Sec_connect(int s, const struct sockaddr *name, socklen_t namelen,
                const struct sec_cred *cred, const struct sec_context *ctx);
/* Vets and binds a local endpoint (port 0 = one from the pool). */
int Sec_bind(int s, const struct sockaddr *name, socklen_t namelen,
             const struct sec_cred *cred, const struct sec_context *ctx);
int Sec_listen(int s, int backlog);
/* The new socket; the peer's address into addr/addrlen (may be NULL). */
int Sec_accept(int s, struct sockaddr *addr, socklen_t *addrlen);
/* Bytes taken (at least 1 unless len is 0), or -1. */
ssize_t Sec_send(int s, const void *buf, size_t len, int flags);
/* Bytes received, 0 at end of stream, or -1. */
ssize_t Sec_recv(int s, void *buf, size_t len, int flags);
/* Sends a datagram; the first to a destination is vetted with cred and ctx. */
ssize_t Sec_sendto(int s, const void *msg, size_t len, int flags,
                   const struct sockaddr *to, socklen_t tolen,
                   const struct sec_cred *cred, const struct sec_context *ctx);
/* Receives a datagram; sender into from/fromlen and its protection into how
 * (each may be NULL). */
ssize_t Sec_recvfrom(int s, void *buf, size_t len, int flags,
                     struct sockaddr *from, socklen_t *fromlen,
                     struct sec_inbound *how);
/* Closes s; its SPD rule and port are released. */
int Sec_close(int s);
int Sec_getsockopt(int s, int level, int optname, void *optval, socklen_t *optlen);
int Sec_setsockopt(int s, int level, int optname, const void *optval, socklen_t optlen);

/* The following write a NUL-terminated string into buf (at most len bytes,
 * truncated like snprintf) and return its full length, or -1. */
/* The peer's credentials, each followed by a blank line. */
ssize_t Sec_getremoteCredentials(int s, char *buf, size_t len);
/* The peer's public key (its KeyNote principal). Never a secret. */
ssize_t Sec_getremoteKey(int s, char *buf, size_t len);
/* Why this application's last request was refused ("" and 0 if none). */
ssize_t Sec_why(char *buf, size_t len);

/* Runs app() as this protection domain's program (host backend: the
 * program started by `vetted run` for its program_image); the PD stops
 * when app returns, status 0 being a clean stop. Does not return, except
 * -1 with errno EFAULT for a NULL app. */
int secsock_pd_main(int (*app)(void));

#ifdef __cplusplus
}
#endif

#endif /* VETTED_SECSOCK_H */
