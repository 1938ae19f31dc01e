/*
 * A C application linking the secsock static library, run as node A's
 * `client` PD by the end-to-end tests (tests/tests/nodes.rs): connect, send,
 * recv, close over ESP to node B's echo service, a UDP round trip, and
 * refusals with errno and Sec_why(). Prints "C RESULT: ok" when every check
 * passed, "C RESULT: FAIL ..." otherwise.
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -I components/secsock/include \
 *   -DCRED_FILE='"policies/demo/credentials/client.cred"' \
 *   tests/c/secsock_client.c target/release/libsecsock.a -lpthread -ldl -lm
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secsock.h"

#ifndef CRED_FILE
#error "compile with -DCRED_FILE=\"path/to/client.cred\""
#endif

static int failures;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            printf("C FAIL line %d: ", __LINE__);          \
            printf(__VA_ARGS__);                           \
            printf(" (errno %d %s)\n", errno, strerror(errno)); \
            failures++;                                    \
        }                                                  \
    } while (0)

static char cred_text[16384];

static void echo_addr(struct sockaddr_in *a, int port) {
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, "192.0.2.2", &a->sin_addr);
}

static void pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* A context for this call: template (library stamps it), remote = to. */
static void context_for(struct sec_context *ctx, const struct sockaddr_in *to, int level) {
    sec_context_init(ctx);
    memcpy(&ctx->remote, to, sizeof *to);
    ctx->protection.level = level;
    ctx->issued = 0; /* template: a fresh nonce at each call */
    memset(ctx->nonce, 0, sizeof ctx->nonce);
}

static int app(void) {
    FILE *f = fopen(CRED_FILE, "r");
    if (!f) {
        printf("C RESULT: FAIL cannot read %s\n", CRED_FILE);
        return 0;
    }
    size_t n = fread(cred_text, 1, sizeof cred_text - 1, f);
    fclose(f);
    cred_text[n] = 0;
    const char *texts[1] = {cred_text};
    struct sec_cred cred = {texts, 1};

    struct sockaddr_in to;
    echo_addr(&to, 7);
    struct sec_context ctx;
    CHECK(sec_context_init(&ctx) == 0, "sec_context_init");
    int nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero |= ctx.nonce[i];
    CHECK(ctx.issued > 1600000000u && nonzero, "sec_context_init stamps time and nonce");

    /* TCP: connect (node B may still be starting: retry refusals). */
    int s = -1, rc = -1;
    for (int attempt = 0; attempt < 60 && rc != 0; attempt++) {
        if (s >= 0) Sec_close(s);
        s = Sec_socket(AF_INET, SOCK_STREAM, 0);
        CHECK(s >= 0, "Sec_socket");
        context_for(&ctx, &to, SEC_LEVEL_FLOOR);
        rc = Sec_connect(s, (struct sockaddr *)&to, sizeof to, &cred, &ctx);
        if (rc != 0 && errno != ECONNREFUSED && errno != ETIMEDOUT) break;
        if (rc != 0) pause_ms(300);
    }
    CHECK(rc == 0, "Sec_connect");
    struct sec_protection p;
    socklen_t plen = sizeof p;
    CHECK(Sec_getsockopt(s, SOL_SECSOCK, SEC_OPT_PROTECTION, &p, &plen) == 0, "Sec_getsockopt");
    printf("C: connected: service %u level %d algorithms 0x%x\n", p.service, p.level, p.algorithms);
    CHECK(p.service == SEC_AUTH_CON && p.level >= SEC_LEVEL_REQUIRE, "protection at least the floor");
    const char msg[] = "hello from C over ESP";
    CHECK(Sec_send(s, msg, sizeof msg - 1, 0) == (ssize_t)(sizeof msg - 1), "Sec_send");
    char buf[256];
    size_t got = 0;
    while (got < sizeof msg - 1) {
        ssize_t r = Sec_recv(s, buf + got, sizeof buf - 1 - got, 0);
        CHECK(r > 0, "Sec_recv");
        if (r <= 0) break;
        got += (size_t)r;
    }
    buf[got] = 0;
    CHECK(got == sizeof msg - 1 && memcmp(buf, msg, got) == 0, "echo matches: %s", buf);
    printf("C: TCP echo: %s\n", buf);
    char key[256];
    ssize_t klen = Sec_getremoteKey(s, key, sizeof key);
    CHECK(klen > 0 && strncmp(key, "ed25519-hex:", 12) == 0, "Sec_getremoteKey: %s", key);
    printf("C: peer key %.28s...\n", key);
    char creds[8192];
    ssize_t clen = Sec_getremoteCredentials(s, creds, sizeof creds);
    CHECK(clen > 0 && strstr(creds, "KeyNote-Version") != NULL, "Sec_getremoteCredentials");
    CHECK(Sec_close(s) == 0, "Sec_close");
    errno = 0;
    CHECK(Sec_close(s) == -1 && errno == EBADF, "second Sec_close is EBADF");
    errno = 0;
    CHECK(Sec_send(s, msg, 1, 0) == -1 && errno == EBADF, "send on a closed socket is EBADF");

    /* UDP round trip with how it was protected. */
    int u = Sec_socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0, "Sec_socket udp");
    unsigned int timeout = 3000;
    CHECK(Sec_setsockopt(u, SOL_SECSOCK, SEC_OPT_RCVTIMEO, &timeout, sizeof timeout) == 0, "RCVTIMEO");
    const char dgram[] = "a C datagram";
    ssize_t r = -1;
    struct sockaddr_in from;
    socklen_t fromlen = sizeof from;
    struct sec_inbound how = {0, 0};
    for (int attempt = 0; attempt < 5 && r < 0; attempt++) {
        context_for(&ctx, &to, SEC_LEVEL_FLOOR);
        CHECK(Sec_sendto(u, dgram, sizeof dgram - 1, 0, (struct sockaddr *)&to, sizeof to, &cred, &ctx) ==
                  (ssize_t)(sizeof dgram - 1),
              "Sec_sendto");
        r = Sec_recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen, &how);
    }
    CHECK(r == (ssize_t)(sizeof dgram - 1) && memcmp(buf, dgram, (size_t)r) == 0, "UDP echo");
    CHECK(ntohs(from.sin_port) == 7 && how.spi != 0 && how.algorithm != 0, "UDP echo protected, from port 7");
    printf("C: UDP echo from port %d, ESP SPI 0x%x algorithm flag 0x%x\n", ntohs(from.sin_port), how.spi,
           how.algorithm);
    CHECK(Sec_close(u) == 0, "Sec_close udp");

    /* Refusal: below the floor. */
    s = Sec_socket(AF_INET, SOCK_STREAM, 0);
    context_for(&ctx, &to, SEC_LEVEL_USE);
    errno = 0;
    CHECK(Sec_connect(s, (struct sockaddr *)&to, sizeof to, &cred, &ctx) == -1 && errno == EPERM,
          "asking for level USE is EPERM");
    char why[1024];
    ssize_t wlen = Sec_why(why, sizeof why);
    CHECK(wlen > 0 && strstr(why, "floor") != NULL, "Sec_why explains the floor: %s", why);
    printf("C: refused below the floor: %s\n", why);
    /* Refusal: a port the credential does not license. */
    struct sockaddr_in other;
    echo_addr(&other, 8);
    context_for(&ctx, &other, SEC_LEVEL_FLOOR);
    errno = 0;
    CHECK(Sec_connect(s, (struct sockaddr *)&other, sizeof other, &cred, &ctx) == -1 && errno == EACCES,
          "an unlicensed port is EACCES");
    wlen = Sec_why(why, sizeof why);
    CHECK(wlen > 0, "Sec_why after a policy refusal");
    printf("C: refused by policy: %s\n", why);
    /* A replayed context: the same stamped context twice. */
    sec_context_init(&ctx);
    memcpy(&ctx.remote, &to, sizeof to);
    int s2 = Sec_socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(Sec_sendto(s2, "x", 1, 0, (struct sockaddr *)&to, sizeof to, &cred, &ctx) == 1, "sendto");
    int s3 = Sec_socket(AF_INET, SOCK_DGRAM, 0);
    errno = 0;
    CHECK(Sec_sendto(s3, "x", 1, 0, (struct sockaddr *)&to, sizeof to, &cred, &ctx) == -1 && errno == EACCES,
          "a replayed context is refused");
    Sec_why(why, sizeof why);
    CHECK(strstr(why, "replay") != NULL, "Sec_why says replayed: %s", why);
    Sec_close(s);
    Sec_close(s2);
    Sec_close(s3);
    errno = 0;
    CHECK(Sec_socket(AF_UNIX, SOCK_STREAM, 0) == -1 && errno == EAFNOSUPPORT, "AF_UNIX refused");

    if (failures == 0)
        printf("C RESULT: ok\n");
    else
        printf("C RESULT: FAIL %d checks\n", failures);
    fflush(stdout);
    return 0;
}

int main(void) {
    return secsock_pd_main(app);
}
