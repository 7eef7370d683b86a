/* Closed-loop TCP load generator for the network bench cases.
 *
 *   loadgen HOST PORT CONNS OPS echo SIZE
 *   loadgen HOST PORT CONNS OPS http PATH
 *
 * Opens CONNS connections; each sends one request, waits for the whole
 * reply, and repeats, until OPS round trips are done in all.  Echo mode
 * sends SIZE bytes and waits for SIZE bytes back; http mode sends a
 * keep-alive GET and reads the headers and Content-Length bytes of body.
 * Prints the seconds from the first request to the last reply.  The same
 * binary drives every implementation, so it must stay cheap: one epoll
 * thread, no allocation per request. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ECHO, HTTP };

typedef struct {
    int fd;
    size_t sent;        /* bytes of the current request written */
    size_t got;         /* bytes of the current reply read */
    size_t want;        /* reply length once known (0: headers pending) */
    int writing;        /* request not fully written yet */
} conn_t;

static int mode;
static char *request;
static size_t request_len;
static size_t echo_size;
static char *inbuf;
static size_t inbuf_cap;
static long remaining_to_start;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int connect_to(const char *host, int port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        die("socket");
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("inet_pton");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Write what the socket takes of the current request; 1 when done. */
static int push(conn_t *c)
{
    while (c->sent < request_len) {
        ssize_t w = send(c->fd, request + c->sent, request_len - c->sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            die("send");
        }
        c->sent += (size_t)w;
    }
    return 1;
}

/* Length of a complete HTTP reply in inbuf[0..got), or 0 if unknown yet. */
static size_t http_reply_len(size_t got)
{
    char *end = memmem(inbuf, got, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - inbuf) + 4;
    const char *p = inbuf;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            return head + strtoul(p + 15, NULL, 10);
        p = eol + 2;
    }
    fprintf(stderr, "reply without Content-Length\n");
    exit(1);
}

/* Read what is there; 1 when the whole reply arrived. */
static int pull(conn_t *c)
{
    for (;;) {
        char *dst = mode == HTTP ? inbuf + c->got : inbuf;
        size_t room = mode == HTTP ? inbuf_cap - c->got : inbuf_cap;
        if (room == 0) {
            fprintf(stderr, "reply too large\n");
            exit(1);
        }
        ssize_t r = recv(c->fd, dst, room, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            die("recv");
        }
        if (r == 0) {
            fprintf(stderr, "server closed the connection\n");
            exit(1);
        }
        c->got += (size_t)r;
        if (mode == HTTP && c->want == 0)
            c->want = http_reply_len(c->got);
        if (c->want && c->got >= c->want) {
            if (c->got > c->want) {
                fprintf(stderr, "unexpected extra bytes\n");
                exit(1);
            }
            return 1;
        }
    }
}

static void start_request(conn_t *c)
{
    c->sent = c->got = 0;
    c->want = mode == ECHO ? echo_size : 0;
    c->writing = !push(c);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: loadgen HOST PORT CONNS OPS echo SIZE|http PATH\n");
        return 2;
    }
    int port = atoi(argv[2]), nconn = atoi(argv[3]);
    long ops = atol(argv[4]);
    if (nconn < 1 || ops < 1)
        return 2;
    if (strcmp(argv[5], "echo") == 0) {
        mode = ECHO;
        echo_size = strtoul(argv[6], NULL, 10);
        request_len = echo_size;
        request = malloc(request_len ? request_len : 1);
        memset(request, 'x', request_len);
        inbuf_cap = 256 * 1024;
    } else {
        mode = HTTP;
        request = malloc(256 + strlen(argv[6]));
        request_len = (size_t)sprintf(request,
            "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n",
            argv[6], argv[1]);
        inbuf_cap = 64 * 1024;
    }
    inbuf = malloc(inbuf_cap);
    int ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconn, sizeof *conns);
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = connect_to(argv[1], port);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                                 .data.ptr = &conns[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
            die("epoll_ctl");
    }
    remaining_to_start = ops;
    long done = 0;
    double t0 = now();
    for (int i = 0; i < nconn && remaining_to_start > 0; i++) {
        remaining_to_start--;
        start_request(&conns[i]);
    }
    struct epoll_event evs[64];
    while (done < ops) {
        int n = epoll_wait(ep, evs, 64, 10000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("epoll_wait (timeout)");
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->writing && (evs[i].events & EPOLLOUT))
                c->writing = !push(c);
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            /* A reply can complete several times only if we restart and
             * the server answers at once, which it cannot before we read
             * again; so one pull per event, then loop while complete. */
            while (c->fd >= 0 && pull(c)) {
                done++;
                if (remaining_to_start > 0) {
                    remaining_to_start--;
                    start_request(c);
                } else {
                    close(c->fd);
                    c->fd = -1;
                    break;
                }
            }
        }
    }
    printf("%.9f\n", now() - t0);
    return 0;
}
