/*
 * threads.c -- one handle pumped from two threads at once, as .NET does.
 *
 *   client handle: thread "sender"   pumps only the SEND queue,
 *                  thread "receiver" pumps only the RECEIVE queue;
 *   server handle: thread "server"   receives each message and echoes it.
 *
 * They talk over a socketpair. The sender sends N messages (default 10000;
 * argv[1] overrides) of random sizes, some split into several FRAGMENT
 * sends, each carrying its sequence number and a checksum. The server
 * checks and echoes every message and pings the client now and then, so the
 * receiver thread writes automatic pongs to the socket while the sender
 * thread writes data frames. Both write whole SEND_TO_NETWORK actions
 * through one lock (the write throttle callers keep, as .NET does); the
 * handle must never lend a pong that would land inside a frame of the
 * sender (the server would see a corrupt stream), and the receive queue
 * never says NO_ACTION while a receive is outstanding. A pong may go out
 * from either thread: the sender writes one that had to wait for its frame.
 * At the end the client closes and the server answers.
 *
 * Verified: nothing lost, nothing corrupted, nothing reordered, no frame
 * interleaving.
 */
#define _POSIX_C_SOURCE 200809L
#define T_PROGRAM "threads"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned long g_messages = 10000;
static int g_client_fd = -1;
static int g_server_fd = -1;
static WEB_SOCKET_HANDLE g_client;
static WEB_SOCKET_HANDLE g_server;

/* The client's write throttle: held while a SEND_TO_NETWORK action is written. */
static pthread_mutex_t g_wire = PTHREAD_MUTEX_INITIALIZER;

static int g_send_ctx, g_recv_ctx; /* application contexts */

/* ---- message format: seq (4) | checksum of the rest (4) | bytes ---- */

static uint32_t fnv1a(const BYTE *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static void put32(BYTE *p, uint32_t v)
{
    p[0] = (BYTE)v;
    p[1] = (BYTE)(v >> 8);
    p[2] = (BYTE)(v >> 16);
    p[3] = (BYTE)(v >> 24);
}

static uint32_t get32(const BYTE *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static size_t message_size(uint32_t *rng)
{
    uint32_t r = t_rng_next(rng) % 100;
    if (r < 60) {
        return 8 + t_rng_next(rng) % 200;
    }
    if (r < 92) {
        return 8 + t_rng_next(rng) % 6000;
    }
    return 8 + t_rng_next(rng) % 40000;
}

static void check_message(const char *who, const BYTE *m, size_t n, unsigned long expected_seq)
{
    T_ASSERT(n >= 8, "%s: message %lu has only %zu bytes", who, expected_seq, n);
    uint32_t seq = get32(m);
    T_ASSERT(seq == (uint32_t)expected_seq, "%s: got message %u, expected %lu (lost or reordered)", who,
             (unsigned)seq, expected_seq);
    uint32_t sum = fnv1a(m + 8, n - 8);
    T_ASSERT(sum == get32(m + 4), "%s: message %lu (%zu bytes) corrupted", who, expected_seq, n);
}

/* ---- client socket I/O (blocking) ---- */

static void client_write_all(const BYTE *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(g_client_fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        T_ASSERT(k > 0, "client write failed: errno %d", errno);
        p += k;
        n -= (size_t)k;
    }
}

static ULONG client_read(BYTE *p, ULONG max)
{
    for (;;) {
        ssize_t k = read(g_client_fd, p, max);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        T_ASSERT(k >= 0, "client read failed: errno %d", errno);
        return (ULONG)k;
    }
}

/* One SEND_TO_NETWORK of the client, from whichever thread got it. */
static ULONG client_send_to_network(const char *who, const WEB_SOCKET_BUFFER *bufs, ULONG count)
{
    (void)who;
    pthread_mutex_lock(&g_wire);
    ULONG total = 0;
    for (ULONG i = 0; i < count; i++) {
        client_write_all(bufs[i].Data.pbBuffer, bufs[i].Data.ulBufferLength);
        total += bufs[i].Data.ulBufferLength;
    }
    pthread_mutex_unlock(&g_wire);
    return total;
}

/* ---- client sender thread: SEND queue only ---- */

static unsigned long g_nothing_now_sender;
static unsigned long g_sender_pongs, g_client_pongs_sent; /* written by the sender / receiver thread */

static void sender_send(WEB_SOCKET_BUFFER_TYPE type, BYTE *data, size_t len, int is_close)
{
    WEB_SOCKET_BUFFER b;
    memset(&b, 0, sizeof(b));
    HRESULT hr;
    if (is_close) {
        b.CloseStatus.usStatus = 1000;
        b.CloseStatus.pbReason = data;
        b.CloseStatus.ulReasonLength = (ULONG)len;
        hr = WebSocketSend(g_client, type, &b, &g_send_ctx);
    } else if (type == WEB_SOCKET_PING_PONG_BUFFER_TYPE) {
        hr = WebSocketSend(g_client, type, NULL, &g_send_ctx);
    } else {
        b.Data.pbBuffer = data;
        b.Data.ulBufferLength = (ULONG)len;
        hr = WebSocketSend(g_client, type, &b, &g_send_ctx);
    }
    T_ASSERT(hr == S_OK, "sender: WebSocketSend returned 0x%08x", (unsigned)hr);

    for (;;) {
        WEB_SOCKET_BUFFER bufs[2];
        ULONG count = 2;
        WEB_SOCKET_ACTION action;
        WEB_SOCKET_BUFFER_TYPE bt;
        PVOID app = NULL, ctx = NULL;
        hr = WebSocketGetAction(g_client, WEB_SOCKET_SEND_ACTION_QUEUE, bufs, &count, &action, &bt, &app, &ctx);
        T_ASSERT(hr == S_OK, "sender: WebSocketGetAction returned 0x%08x", (unsigned)hr);
        switch (action) {
        case WEB_SOCKET_NO_ACTION:
            /* Not now: the receiver thread is writing a pong. */
            g_nothing_now_sender++;
            sched_yield();
            continue;
        case WEB_SOCKET_SEND_TO_NETWORK_ACTION:
            if (app == NULL) {
                /* An automatic pong that waited for the end of this thread's frame. */
                T_ASSERT(bt == WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE, "sender: frame without a context");
                g_sender_pongs++;
            } else {
                T_ASSERT(app == &g_send_ctx, "sender: wrong application context");
            }
            WebSocketCompleteAction(g_client, ctx, client_send_to_network("sender", bufs, count));
            continue;
        case WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION:
            T_ASSERT(app == &g_send_ctx, "sender: wrong application context on completion");
            WebSocketCompleteAction(g_client, ctx, 0);
            return;
        default:
            T_ASSERT(0, "sender: action %d on the send queue", (int)action);
        }
    }
}

static void *sender_main(void *arg)
{
    (void)arg;
    uint32_t rng = 12345;
    BYTE *m = (BYTE *)malloc(40000 + 16);
    T_ASSERT(m != NULL, "out of memory");
    for (unsigned long i = 0; i < g_messages; i++) {
        size_t n = message_size(&rng);
        for (size_t k = 8; k < n; k++) {
            m[k] = (BYTE)t_rng_next(&rng);
        }
        put32(m, (uint32_t)i);
        put32(m + 4, fnv1a(m + 8, n - 8));
        uint32_t pieces = 1 + (t_rng_next(&rng) % 8 == 0 ? 1 + t_rng_next(&rng) % 3 : 0);
        size_t off = 0;
        for (uint32_t p = 0; p < pieces; p++) {
            size_t part = (p + 1 == pieces) ? n - off : (n - off) / (pieces - p);
            sender_send(p + 1 == pieces ? WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE : WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE,
                        m + off, part, 0);
            off += part;
        }
        if (i % 500 == 499) {
            sender_send(WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, 0, 0);
        }
    }
    static BYTE reason[] = "all sent";
    sender_send(WEB_SOCKET_CLOSE_BUFFER_TYPE, reason, strlen((char *)reason), 1);
    free(m);
    return NULL;
}

/* ---- client receiver thread: RECEIVE queue only ---- */

static unsigned long g_echoes, g_client_pongs_seen;

static void *receiver_main(void *arg)
{
    (void)arg;
    size_t cap = 65536, len = 0;
    BYTE *m = (BYTE *)malloc(cap);
    T_ASSERT(m != NULL, "out of memory");
    int closed = 0;
    while (!closed) {
        HRESULT hr = WebSocketReceive(g_client, NULL, &g_recv_ctx);
        T_ASSERT(hr == S_OK, "receiver: WebSocketReceive returned 0x%08x", (unsigned)hr);
        int completed = 0;
        while (!completed) {
            WEB_SOCKET_BUFFER bufs[1];
            ULONG count = 1; /* .NET offers one slot on the receive queue */
            WEB_SOCKET_ACTION action;
            WEB_SOCKET_BUFFER_TYPE bt;
            PVOID app = NULL, ctx = NULL;
            hr = WebSocketGetAction(g_client, WEB_SOCKET_RECEIVE_ACTION_QUEUE, bufs, &count, &action, &bt, &app,
                                    &ctx);
            T_ASSERT(hr == S_OK, "receiver: WebSocketGetAction returned 0x%08x", (unsigned)hr);
            switch (action) {
            case WEB_SOCKET_NO_ACTION:
                T_ASSERT(0, "receiver: NO_ACTION on the receive queue while a receive is outstanding");
                continue;
            case WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION: {
                ULONG k = client_read(bufs[0].Data.pbBuffer, bufs[0].Data.ulBufferLength);
                T_ASSERT(k > 0, "receiver: the server closed the socket early");
                WebSocketCompleteAction(g_client, ctx, k);
                continue;
            }
            case WEB_SOCKET_SEND_TO_NETWORK_ACTION:
                T_ASSERT(app == NULL, "receiver: an automatic pong carries an application context");
                g_client_pongs_sent++;
                WebSocketCompleteAction(g_client, ctx, client_send_to_network("receiver", bufs, count));
                continue;
            case WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION:
                T_ASSERT(app == &g_recv_ctx, "receiver: wrong application context");
                T_ASSERT(count == 1, "receiver: %u buffers", (unsigned)count);
                completed = 1;
                if (bt == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
                    T_ASSERT(bufs[0].CloseStatus.usStatus == 1000, "receiver: close status %u",
                             (unsigned)bufs[0].CloseStatus.usStatus);
                    closed = 1;
                } else if (bt == WEB_SOCKET_PING_PONG_BUFFER_TYPE) {
                    g_client_pongs_seen++;
                } else {
                    T_ASSERT(bt == WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE || bt == WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE,
                             "receiver: buffer type 0x%x", (unsigned)bt);
                    ULONG n = bufs[0].Data.ulBufferLength;
                    T_ASSERT(len + n <= cap, "receiver: echo larger than any message sent");
                    if (n) {
                        memcpy(m + len, bufs[0].Data.pbBuffer, n);
                    }
                    len += n;
                    if (bt == WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE) {
                        check_message("receiver", m, len, g_echoes);
                        g_echoes++;
                        len = 0;
                    }
                }
                WebSocketCompleteAction(g_client, ctx, 0);
                continue;
            default:
                T_ASSERT(0, "receiver: action %d on the receive queue", (int)action);
            }
        }
    }
    free(m);
    return NULL;
}

/* ---- server thread: one handle, both queues, non-blocking socket ---- */

/* Bytes read from the socket while the server was waiting to write. */
static BYTE *g_stash;
static size_t g_stash_len, g_stash_pos, g_stash_cap;

static void stash_in(void)
{
    if (g_stash_cap - g_stash_len < 65536) {
        if (g_stash_pos > 0) {
            memmove(g_stash, g_stash + g_stash_pos, g_stash_len - g_stash_pos);
            g_stash_len -= g_stash_pos;
            g_stash_pos = 0;
        }
        if (g_stash_cap - g_stash_len < 65536) {
            g_stash_cap = g_stash_cap ? g_stash_cap * 2 : 262144;
            g_stash = (BYTE *)realloc(g_stash, g_stash_cap);
            T_ASSERT(g_stash != NULL, "out of memory");
        }
    }
    ssize_t k = read(g_server_fd, g_stash + g_stash_len, g_stash_cap - g_stash_len);
    if (k < 0) {
        T_ASSERT(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, "server read failed: errno %d", errno);
        return;
    }
    g_stash_len += (size_t)k;
}

static void server_write_all(const BYTE *p, size_t n)
{
    while (n > 0) {
        struct pollfd pfd;
        pfd.fd = g_server_fd;
        pfd.events = POLLIN | POLLOUT;
        pfd.revents = 0;
        int r = poll(&pfd, 1, -1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        T_ASSERT(r > 0, "server poll failed: errno %d", errno);
        if (pfd.revents & POLLOUT) {
            ssize_t k = write(g_server_fd, p, n);
            if (k > 0) {
                p += k;
                n -= (size_t)k;
            } else {
                T_ASSERT(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, "server write failed: errno %d",
                         errno);
            }
        }
        if (pfd.revents & POLLIN) {
            stash_in(); /* keep the client's sender moving */
        }
        T_ASSERT(!(pfd.revents & (POLLERR | POLLNVAL)), "server socket error");
    }
}

static ULONG server_read(BYTE *p, ULONG max)
{
    for (;;) {
        if (g_stash_pos < g_stash_len) {
            size_t n = g_stash_len - g_stash_pos;
            if (n > max) {
                n = max;
            }
            memcpy(p, g_stash + g_stash_pos, n);
            g_stash_pos += n;
            if (g_stash_pos == g_stash_len) {
                g_stash_pos = g_stash_len = 0;
            }
            return (ULONG)n;
        }
        ssize_t k = read(g_server_fd, p, max);
        if (k >= 0) {
            return (ULONG)k;
        }
        T_ASSERT(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, "server read failed: errno %d", errno);
        struct pollfd pfd;
        pfd.fd = g_server_fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        (void)poll(&pfd, 1, -1);
    }
}

/* Pump one queue of the server until the operation it serves completes;
 * returns the completion's buffer type and copies its data out. */
static WEB_SOCKET_BUFFER_TYPE server_pump(WEB_SOCKET_ACTION_QUEUE queue, WEB_SOCKET_ACTION until, BYTE *out,
                                          size_t *out_len, size_t out_cap, USHORT *close_status)
{
    for (;;) {
        WEB_SOCKET_BUFFER bufs[2];
        ULONG count = 2;
        WEB_SOCKET_ACTION action;
        WEB_SOCKET_BUFFER_TYPE bt;
        PVOID app = NULL, ctx = NULL;
        HRESULT hr = WebSocketGetAction(g_server, queue, bufs, &count, &action, &bt, &app, &ctx);
        T_ASSERT(hr == S_OK, "server: WebSocketGetAction returned 0x%08x (corrupt or interleaved frames?)",
                 (unsigned)hr);
        ULONG done = 0;
        switch (action) {
        case WEB_SOCKET_NO_ACTION:
            T_ASSERT(0, "server: NO_ACTION while an operation is outstanding on queue %d", (int)queue);
            break;
        case WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION:
            done = server_read(bufs[0].Data.pbBuffer, bufs[0].Data.ulBufferLength);
            T_ASSERT(done > 0, "server: the client closed the socket early");
            break;
        case WEB_SOCKET_SEND_TO_NETWORK_ACTION:
            for (ULONG i = 0; i < count; i++) {
                server_write_all(bufs[i].Data.pbBuffer, bufs[i].Data.ulBufferLength);
                done += bufs[i].Data.ulBufferLength;
            }
            break;
        case WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION:
            break;
        case WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION:
            if (bt == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
                *close_status = bufs[0].CloseStatus.usStatus;
            } else {
                ULONG n = bufs[0].Data.ulBufferLength;
                T_ASSERT(*out_len + n <= out_cap, "server: message too large");
                if (n) {
                    memcpy(out + *out_len, bufs[0].Data.pbBuffer, n);
                }
                *out_len += n;
            }
            break;
        default:
            T_ASSERT(0, "server: action %d", (int)action);
        }
        WebSocketCompleteAction(g_server, ctx, done);
        if (action == until) {
            return bt;
        }
    }
}

static unsigned long g_server_messages, g_server_pongs;

static void *server_main(void *arg)
{
    (void)arg;
    size_t cap = 65536;
    BYTE *m = (BYTE *)malloc(cap);
    T_ASSERT(m != NULL, "out of memory");
    size_t len = 0;
    for (;;) {
        T_OK(WebSocketReceive(g_server, NULL, NULL));
        USHORT status = 0;
        WEB_SOCKET_BUFFER_TYPE bt = server_pump(WEB_SOCKET_RECEIVE_ACTION_QUEUE,
                                                WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION, m, &len, cap, &status);
        if (bt == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
            T_ASSERT(status == 1000, "server: close status %u", (unsigned)status);
            T_ASSERT(len == 0, "server: close in the middle of a message");
            WEB_SOCKET_BUFFER b;
            memset(&b, 0, sizeof(b));
            b.CloseStatus.usStatus = 1000;
            T_OK(WebSocketSend(g_server, WEB_SOCKET_CLOSE_BUFFER_TYPE, &b, NULL));
            server_pump(WEB_SOCKET_SEND_ACTION_QUEUE, WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION, NULL, NULL, 0, NULL);
            break;
        }
        if (bt == WEB_SOCKET_PING_PONG_BUFFER_TYPE) {
            g_server_pongs++;
            continue;
        }
        T_ASSERT(bt == WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE || bt == WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE,
                 "server: buffer type 0x%x", (unsigned)bt);
        if (bt == WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE) {
            continue;
        }
        check_message("server", m, len, g_server_messages);
        g_server_messages++;

        /* Echo it. */
        WEB_SOCKET_BUFFER b;
        memset(&b, 0, sizeof(b));
        b.Data.pbBuffer = m;
        b.Data.ulBufferLength = (ULONG)len;
        T_OK(WebSocketSend(g_server, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, &b, NULL));
        server_pump(WEB_SOCKET_SEND_ACTION_QUEUE, WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION, NULL, NULL, 0, NULL);
        len = 0;

        /* Now and then a ping, so the client's receiver writes pongs while
         * its sender writes data. */
        if (g_server_messages % 16 == 0) {
            T_OK(WebSocketSend(g_server, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, NULL));
            server_pump(WEB_SOCKET_SEND_ACTION_QUEUE, WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION, NULL, NULL, 0, NULL);
        }
    }
    free(m);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        g_messages = strtoul(argv[1], NULL, 10);
    }
    int fds[2];
    T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair failed: errno %d", errno);
    g_client_fd = fds[0];
    g_server_fd = fds[1];
    int fl = fcntl(g_server_fd, F_GETFL);
    T_ASSERT(fl >= 0 && fcntl(g_server_fd, F_SETFL, fl | O_NONBLOCK) == 0, "fcntl failed");

    T_OK(WebSocketCreateClientHandle(NULL, 0, &g_client));
    T_OK(WebSocketCreateServerHandle(NULL, 0, &g_server));
    t_handshake(g_client, g_server);

    pthread_t sender, receiver, server;
    T_ASSERT(pthread_create(&server, NULL, server_main, NULL) == 0, "pthread_create");
    T_ASSERT(pthread_create(&receiver, NULL, receiver_main, NULL) == 0, "pthread_create");
    T_ASSERT(pthread_create(&sender, NULL, sender_main, NULL) == 0, "pthread_create");
    pthread_join(sender, NULL);
    pthread_join(receiver, NULL);
    pthread_join(server, NULL);

    printf("threads: %lu messages sent, %lu checked by the server, %lu echoes checked by the client\n", g_messages,
           g_server_messages, g_echoes);
    unsigned long pongs = g_client_pongs_sent + g_sender_pongs;
    printf("threads: client wrote %lu automatic pongs (%lu by the sender thread); saw %lu pongs; server saw %lu "
           "pongs; sender NO_ACTION retries %lu\n",
           pongs, g_sender_pongs, g_client_pongs_seen, g_server_pongs, g_nothing_now_sender);
    T_ASSERT(g_server_messages == g_messages, "server got %lu of %lu messages", g_server_messages, g_messages);
    T_ASSERT(g_echoes == g_messages, "client got %lu of %lu echoes", g_echoes, g_messages);
    /* One pong per ping, except that pings waiting together may share the newest one's
     * pong (RFC 6455 5.5.3). */
    T_ASSERT(pongs <= g_messages / 16 && (pongs > 0 || g_messages < 16), "client answered %lu of %lu pings", pongs,
             g_messages / 16);
    T_ASSERT(g_client_pongs_seen == g_messages / 500, "client saw %lu of %lu pongs", g_client_pongs_seen,
             g_messages / 500);
    /* The client's automatic pongs that went out after its close frame are never read
     * by the server (it stops at the close), so the server sees at most that many. */
    T_ASSERT(g_server_pongs <= pongs, "server saw %lu pongs, only %lu sent", g_server_pongs, pongs);

    WebSocketDeleteHandle(g_client);
    WebSocketDeleteHandle(g_server);
    close(fds[0]);
    close(fds[1]);
    free(g_stash);
    printf("threads: all checks passed\n");
    return 0;
}
