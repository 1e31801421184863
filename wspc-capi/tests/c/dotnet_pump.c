/*
 * dotnet_pump.c -- both handles pumped exactly the way .NET Framework's
 * System.Net.WebSockets drives websocket.dll, with pings from the peer.
 *
 * Each side (client and server handle, over a socketpair) has:
 *   - an ALLOCATED_BUFFER of receive + send + 144 bytes, and every pointer a
 *     WebSocketGetAction lends is checked to lie in it (or, on the send queue,
 *     in the payload of the send in progress);
 *   - one lock per handle, held around every WebSocketSend / Receive /
 *     GetAction / CompleteAction and released only while reading or writing
 *     the socket;
 *   - one write throttle, so that whole SEND_TO_NETWORK actions never
 *     interleave on the wire (the receive thread's pongs and the send thread's
 *     frames take turns);
 *   - a send thread: WebSocketSend, then GetAction(SEND, 2 slots) until
 *     INDICATE_SEND_COMPLETE; NO_ACTION there means "not now": release the
 *     lock and ask again;
 *   - a receive thread: WebSocketReceive(NULL), then GetAction(RECEIVE,
 *     1 slot): RECEIVE_FROM_NETWORK reads, SEND_TO_NETWORK (automatic pong)
 *     writes, INDICATE_RECEIVE_COMPLETE copies out and completes with the
 *     number of bytes copied, and NO_ACTION ends the operation -- so a
 *     NO_ACTION before that receive's INDICATE_RECEIVE_COMPLETE fails the test
 *     (that is what .NET would read as a finished receive with no result).
 *
 * The client sends N messages of random sizes (0 B .. 300 KB, some split into
 * several FRAGMENT sends) and now and then an unsolicited pong (.NET's
 * keep-alive); the server sends its own stream of messages and pings the
 * client every few messages, so pongs become due while the client's send
 * thread is in the middle of a frame. Both receivers check every byte.
 * Then the close handshake: the client closes after its messages; the server
 * pings three more times and closes after it received the client's close; the
 * client, having sent its close, completes those pongs' SEND_TO_NETWORK with
 * 0 bytes (as .NET does), which must break nothing.
 * Finally a second pair is aborted mid-frame, with a pong due and a receive
 * outstanding, and drained as .NET does: SEND queue, then RECEIVE queue, one
 * slot, each action completed with 0 until NO_ACTION.
 *
 * Usage: dotnet_pump [messages [seed]]  (defaults 3000 and a seed from the
 * clock; WSPC_PUMP_SEED also sets the seed). The seed is printed first, so a
 * failing run can be repeated.
 */
#define _POSIX_C_SOURCE 200809L
#define T_PROGRAM "dotnet_pump"
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE (300 * 1024)
#define SERVER_PING_EVERY 5
#define CLIENT_PONG_EVERY 23
#define PINGS_AFTER_CLOSE 3

static unsigned long g_messages = 3000;
static uint32_t g_seed;

/* ---- deterministic message generator (both ends derive the same bytes) ---- */

static uint32_t mix(uint32_t a, uint32_t b)
{
    uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u + (a << 6) + (a >> 2));
    return h ? h : 1;
}

/* Message `i` of stream `stream`: its size, text or binary, and its bytes. */
static size_t message_size(uint32_t stream, unsigned long i, int *text)
{
    uint32_t r = mix(mix(g_seed, stream), (uint32_t)i);
    t_rng_next(&r);
    *text = t_rng_next(&r) % 4 == 0;
    uint32_t k = t_rng_next(&r) % 100;
    if (k < 55) {
        return t_rng_next(&r) % 200;
    }
    if (k < 88) {
        return t_rng_next(&r) % 8000;
    }
    if (k < 97) {
        return t_rng_next(&r) % 40000;
    }
    return t_rng_next(&r) % (MAX_MESSAGE + 1);
}

static void message_fill(uint32_t stream, unsigned long i, BYTE *out, size_t n, int text)
{
    uint32_t r = mix(mix(g_seed, stream ^ 0x55u), (uint32_t)i);
    for (size_t k = 0; k < n; k++) {
        uint32_t v = t_rng_next(&r);
        out[k] = text ? (BYTE)(' ' + v % 95) : (BYTE)v;
    }
}

/* ---- one side: handle, socket, lock, throttle, allocated buffer ---- */

typedef struct side {
    const char *name;
    WEB_SOCKET_HANDLE h;
    int fd;
    uint32_t stream; /* which message stream this side sends */
    pthread_mutex_t lock;
    pthread_mutex_t throttle;
    BYTE *region;
    size_t region_len;
    const BYTE *payload; /* the send in progress (pinned) */
    size_t payload_len;
    int close_sent;
    /* receive side's view */
    int close_received;
    /* statistics */
    unsigned long sent, received, pongs_received, auto_pongs_recv_queue, auto_pongs_send_queue, pongs_dropped,
        send_retries, chunks;
} side;

static side g_client, g_server;

static pthread_mutex_t g_close_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_close_cv = PTHREAD_COND_INITIALIZER;

static void lock(side *s)
{
    pthread_mutex_lock(&s->lock);
}

static void unlock(side *s)
{
    pthread_mutex_unlock(&s->lock);
}

static int within(const BYTE *p, size_t n, const BYTE *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

/* .NET's check of a lent pointer: inside the allocated buffer, or (send queue
 * only) inside the pinned payload of the send in progress. */
static void check_lent(side *s, WEB_SOCKET_ACTION_QUEUE q, const BYTE *p, size_t n, const char *what)
{
    if (n == 0) {
        return;
    }
    int ok = within(p, n, s->region, s->region_len) ||
             (q == WEB_SOCKET_SEND_ACTION_QUEUE && s->payload && within(p, n, s->payload, s->payload_len));
    T_ASSERT(ok, "[%s] %s: %zu bytes at %p lie outside the allocated buffer %p+%zu (seed %u)", s->name, what, n,
             (const void *)p, (const void *)s->region, s->region_len, (unsigned)g_seed);
}

static void check_action_buffers(side *s, WEB_SOCKET_ACTION_QUEUE q, WEB_SOCKET_ACTION a, WEB_SOCKET_BUFFER_TYPE bt,
                                 const WEB_SOCKET_BUFFER *b, ULONG count)
{
    for (ULONG i = 0; i < count; i++) {
        if (a == WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION && bt == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
            check_lent(s, q, b[i].CloseStatus.pbReason, b[i].CloseStatus.ulReasonLength, "close reason");
        } else if (a == WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION && bt == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
            continue; /* the close status the app passed in */
        } else {
            check_lent(s, q, b[i].Data.pbBuffer, b[i].Data.ulBufferLength, "buffer");
        }
    }
}

static int is_pong_type(WEB_SOCKET_BUFFER_TYPE bt)
{
    return bt == WEB_SOCKET_PING_PONG_BUFFER_TYPE || bt == WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE;
}

/* Writes one whole SEND_TO_NETWORK action through the throttle (lock not held). */
static ULONG write_action(side *s, const WEB_SOCKET_BUFFER *b, ULONG count)
{
    ULONG total = 0;
    pthread_mutex_lock(&s->throttle);
    for (ULONG i = 0; i < count; i++) {
        const BYTE *p = b[i].Data.pbBuffer;
        size_t n = b[i].Data.ulBufferLength;
        while (n > 0) {
            ssize_t k = write(s->fd, p, n);
            if (k < 0 && errno == EINTR) {
                continue;
            }
            T_ASSERT(k > 0, "[%s] write failed: errno %d (seed %u)", s->name, errno, (unsigned)g_seed);
            p += k;
            n -= (size_t)k;
        }
        total += b[i].Data.ulBufferLength;
    }
    pthread_mutex_unlock(&s->throttle);
    return total;
}

/* A SEND_TO_NETWORK from either queue, as .NET handles it: after its own close
 * was sent, a ping/pong is completed with 0 bytes and not written. Called and
 * returns with the lock held. */
static void send_to_network(side *s, WEB_SOCKET_BUFFER_TYPE bt, const WEB_SOCKET_BUFFER *b, ULONG count, PVOID ctx)
{
    if (s->close_sent && is_pong_type(bt)) {
        s->pongs_dropped++;
        WebSocketCompleteAction(s->h, ctx, 0);
        return;
    }
    unlock(s);
    ULONG n = write_action(s, b, count);
    lock(s);
    WebSocketCompleteAction(s->h, ctx, n);
}

static WEB_SOCKET_ACTION get_action(side *s, WEB_SOCKET_ACTION_QUEUE q, WEB_SOCKET_BUFFER *b, ULONG slots, ULONG *count,
                                    WEB_SOCKET_BUFFER_TYPE *bt, PVOID *app, PVOID *ctx)
{
    WEB_SOCKET_ACTION a = WEB_SOCKET_NO_ACTION;
    *count = slots;
    *app = NULL;
    *ctx = NULL;
    memset(b, 0, sizeof(*b) * slots);
    HRESULT hr = WebSocketGetAction(s->h, q, b, count, &a, bt, app, ctx);
    T_ASSERT(hr == S_OK, "[%s] WebSocketGetAction(queue %d) returned 0x%08x (seed %u)", s->name, (int)q, (unsigned)hr,
             (unsigned)g_seed);
    T_ASSERT(*count <= slots, "[%s] %u buffers for %u slots", s->name, (unsigned)*count, (unsigned)slots);
    if (a != WEB_SOCKET_NO_ACTION) {
        check_action_buffers(s, q, a, *bt, b, *count);
    }
    return a;
}

/* ---- the send operation ---- */

static void send_op(side *s, WEB_SOCKET_BUFFER_TYPE type, const BYTE *data, size_t len)
{
    static int ctx_tag;
    WEB_SOCKET_BUFFER in;
    memset(&in, 0, sizeof(in));
    lock(s);
    HRESULT hr;
    if (type == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
        in.CloseStatus.usStatus = 1000;
        in.CloseStatus.pbReason = (PBYTE)data;
        in.CloseStatus.ulReasonLength = (ULONG)len;
        s->payload = data;
        s->payload_len = len;
        hr = WebSocketSend(s->h, type, &in, &ctx_tag);
        s->close_sent = 1;
    } else if (is_pong_type(type)) {
        s->payload = NULL;
        s->payload_len = 0;
        hr = WebSocketSend(s->h, type, NULL, &ctx_tag);
    } else {
        in.Data.pbBuffer = (PBYTE)data;
        in.Data.ulBufferLength = (ULONG)len;
        s->payload = data;
        s->payload_len = len;
        hr = WebSocketSend(s->h, type, &in, &ctx_tag);
    }
    T_ASSERT(hr == S_OK, "[%s] WebSocketSend returned 0x%08x (seed %u)", s->name, (unsigned)hr, (unsigned)g_seed);
    for (;;) {
        WEB_SOCKET_BUFFER b[2];
        ULONG count;
        WEB_SOCKET_BUFFER_TYPE bt;
        PVOID app, ctx;
        WEB_SOCKET_ACTION a = get_action(s, WEB_SOCKET_SEND_ACTION_QUEUE, b, 2, &count, &bt, &app, &ctx);
        switch (a) {
        case WEB_SOCKET_NO_ACTION:
            /* The receive thread is writing a pong: let it finish, ask again. */
            s->send_retries++;
            unlock(s);
            sched_yield();
            lock(s);
            continue;
        case WEB_SOCKET_SEND_TO_NETWORK_ACTION:
            if (app == NULL) {
                T_ASSERT(bt == WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE, "[%s] send queue: frame of type 0x%x "
                         "without a context", s->name, (unsigned)bt);
                s->auto_pongs_send_queue++;
            } else {
                T_ASSERT(app == &ctx_tag, "[%s] send queue: wrong application context", s->name);
            }
            send_to_network(s, bt, b, count, ctx);
            continue;
        case WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION:
            T_ASSERT(app == &ctx_tag, "[%s] send completion: wrong application context", s->name);
            WebSocketCompleteAction(s->h, ctx, 0);
            s->payload = NULL;
            s->payload_len = 0;
            unlock(s);
            return;
        default:
            T_ASSERT(0, "[%s] action %d on the send queue", s->name, (int)a);
        }
    }
}

/* Sends message `i` of this side's stream, split into 1..4 sends. */
static void send_message(side *s, unsigned long i, BYTE *buf, uint32_t *rng)
{
    int text;
    size_t n = message_size(s->stream, i, &text);
    message_fill(s->stream, i, buf, n, text);
    unsigned pieces = t_rng_next(rng) % 4 == 0 ? 2 + t_rng_next(rng) % 3 : 1;
    size_t off = 0;
    for (unsigned p = 0; p < pieces; p++) {
        size_t part = p + 1 == pieces ? n - off : (size_t)(t_rng_next(rng) % (n - off + 1));
        WEB_SOCKET_BUFFER_TYPE t =
            p + 1 == pieces ? (text ? WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE : WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE)
                            : (text ? WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE : WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE);
        send_op(s, t, buf + off, part);
        off += part;
    }
    s->sent++;
}

/* ---- the receive operation ---- */

typedef struct {
    WEB_SOCKET_BUFFER_TYPE type;
    size_t len; /* bytes copied */
    USHORT close_status;
} receive_result;

/* One .NET receive: returns when GetAction says NO_ACTION, which must come
 * only after this receive's INDICATE_RECEIVE_COMPLETE. */
static receive_result receive_op(side *s, BYTE *dst, size_t cap)
{
    static int ctx_tag;
    receive_result res;
    memset(&res, 0, sizeof(res));
    int completed = 0;
    lock(s);
    HRESULT hr = WebSocketReceive(s->h, NULL, &ctx_tag);
    T_ASSERT(hr == S_OK, "[%s] WebSocketReceive returned 0x%08x (seed %u)", s->name, (unsigned)hr, (unsigned)g_seed);
    for (;;) {
        WEB_SOCKET_BUFFER b[1];
        ULONG count;
        WEB_SOCKET_BUFFER_TYPE bt;
        PVOID app, ctx;
        WEB_SOCKET_ACTION a = get_action(s, WEB_SOCKET_RECEIVE_ACTION_QUEUE, b, 1, &count, &bt, &app, &ctx);
        switch (a) {
        case WEB_SOCKET_NO_ACTION:
            T_ASSERT(completed, "[%s] NO_ACTION on the receive queue before the receive's INDICATE_RECEIVE_COMPLETE: "
                     ".NET would take the receive as finished without a result (message %lu, seed %u)",
                     s->name, s->received, (unsigned)g_seed);
            unlock(s);
            return res;
        case WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION: {
            T_ASSERT(!completed && count == 1, "[%s] read after the receive completed", s->name);
            BYTE *p = b[0].Data.pbBuffer;
            ULONG max = b[0].Data.ulBufferLength;
            unlock(s);
            ssize_t k;
            do {
                k = read(s->fd, p, max);
            } while (k < 0 && errno == EINTR);
            T_ASSERT(k > 0, "[%s] premature end of stream (read returned %zd, errno %d, seed %u)", s->name, k, errno,
                     (unsigned)g_seed);
            lock(s);
            WebSocketCompleteAction(s->h, ctx, (ULONG)k);
            continue;
        }
        case WEB_SOCKET_SEND_TO_NETWORK_ACTION:
            T_ASSERT(app == NULL && bt == WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE && count == 1,
                     "[%s] receive queue: SEND_TO_NETWORK that is not a one-buffer automatic pong", s->name);
            s->auto_pongs_recv_queue++;
            send_to_network(s, bt, b, count, ctx);
            continue;
        case WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION:
            T_ASSERT(!completed, "[%s] two completions for one receive", s->name);
            T_ASSERT(app == &ctx_tag, "[%s] receive completion: wrong application context", s->name);
            T_ASSERT(count == 1, "[%s] receive completion with %u buffers", s->name, (unsigned)count);
            completed = 1;
            res.type = bt;
            if (bt == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
                res.close_status = b[0].CloseStatus.usStatus;
                res.len = b[0].CloseStatus.ulReasonLength;
                T_ASSERT(res.len <= cap, "[%s] close reason too long", s->name);
                if (res.len) {
                    memcpy(dst, b[0].CloseStatus.pbReason, res.len);
                }
            } else {
                res.len = b[0].Data.ulBufferLength;
                T_ASSERT(res.len <= cap, "[%s] chunk of %zu bytes for a %zu-byte buffer", s->name, res.len, cap);
                if (res.len) {
                    memcpy(dst, b[0].Data.pbBuffer, res.len);
                }
            }
            /* .NET completes with the number of bytes it copied. */
            WebSocketCompleteAction(s->h, ctx, (ULONG)res.len);
            continue;
        default:
            T_ASSERT(0, "[%s] action %d on the receive queue", s->name, (int)a);
        }
    }
}

/* Receives until the peer's close, checking every byte of the peer's stream. */
static void *receive_main(void *arg)
{
    side *s = (side *)arg;
    side *peer = s == &g_client ? &g_server : &g_client;
    BYTE *want = (BYTE *)malloc(MAX_MESSAGE + 1);
    BYTE *chunk = (BYTE *)malloc(1 << 20);
    T_ASSERT(want && chunk, "out of memory");
    size_t want_len = 0, got = 0;
    int text = 0, in_message = 0;
    for (;;) {
        receive_result r = receive_op(s, chunk, 1 << 20);
        if (r.type == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
            T_ASSERT(!in_message, "[%s] close inside a message", s->name);
            T_ASSERT(r.close_status == 1000, "[%s] close status %u", s->name, (unsigned)r.close_status);
            pthread_mutex_lock(&g_close_mx);
            s->close_received = 1;
            pthread_cond_broadcast(&g_close_cv);
            pthread_mutex_unlock(&g_close_mx);
            break;
        }
        if (r.type == WEB_SOCKET_PING_PONG_BUFFER_TYPE) {
            s->pongs_received++; /* .NET just posts the next receive */
            continue;
        }
        T_ASSERT(r.type == WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE || r.type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE ||
                     r.type == WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE || r.type == WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE,
                 "[%s] buffer type 0x%x", s->name, (unsigned)r.type);
        if (!in_message) {
            want_len = message_size(peer->stream, s->received, &text);
            message_fill(peer->stream, s->received, want, want_len, text);
            got = 0;
            in_message = 1;
        }
        int is_text = r.type == WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE || r.type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE;
        T_ASSERT(is_text == text, "[%s] message %lu: wrong type 0x%x (seed %u)", s->name, s->received,
                 (unsigned)r.type, (unsigned)g_seed);
        T_ASSERT(got + r.len <= want_len && memcmp(chunk, want + got, r.len) == 0,
                 "[%s] message %lu (%zu bytes): bytes %zu..%zu differ or overflow (seed %u)", s->name, s->received,
                 want_len, got, got + r.len, (unsigned)g_seed);
        got += r.len;
        s->chunks++;
        if (r.type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE || r.type == WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE) {
            T_ASSERT(got == want_len, "[%s] message %lu: %zu of %zu bytes (seed %u)", s->name, s->received, got,
                     want_len, (unsigned)g_seed);
            s->received++;
            in_message = 0;
        }
    }
    free(want);
    free(chunk);
    return NULL;
}

static void wait_close_received(side *s)
{
    pthread_mutex_lock(&g_close_mx);
    while (!s->close_received) {
        pthread_cond_wait(&g_close_cv, &g_close_mx);
    }
    pthread_mutex_unlock(&g_close_mx);
}

static void *client_send_main(void *arg)
{
    side *s = (side *)arg;
    BYTE *buf = (BYTE *)malloc(MAX_MESSAGE + 1);
    T_ASSERT(buf, "out of memory");
    uint32_t rng = mix(g_seed, 0xC11E);
    for (unsigned long i = 0; i < g_messages; i++) {
        send_message(s, i, buf, &rng);
        if (i % CLIENT_PONG_EVERY == CLIENT_PONG_EVERY - 1) {
            send_op(s, WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE, NULL, 0); /* .NET's keep-alive */
        }
    }
    static const BYTE reason[] = "client done";
    send_op(s, WEB_SOCKET_CLOSE_BUFFER_TYPE, reason, sizeof(reason) - 1);
    free(buf);
    return NULL;
}

static void *server_send_main(void *arg)
{
    side *s = (side *)arg;
    BYTE *buf = (BYTE *)malloc(MAX_MESSAGE + 1);
    T_ASSERT(buf, "out of memory");
    uint32_t rng = mix(g_seed, 0x5E4E);
    unsigned long n = g_messages / 2;
    for (unsigned long i = 0; i < n; i++) {
        send_message(s, i, buf, &rng);
        if (i % SERVER_PING_EVERY == 0) {
            send_op(s, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, 0);
        }
    }
    /* Pings after the client's close: the client drops their pongs. */
    wait_close_received(s);
    for (int k = 0; k < PINGS_AFTER_CLOSE; k++) {
        send_op(s, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, 0);
    }
    static const BYTE reason[] = "server done";
    send_op(s, WEB_SOCKET_CLOSE_BUFFER_TYPE, reason, sizeof(reason) - 1);
    free(buf);
    return NULL;
}

/* ---- handles with an allocated buffer, as .NET creates them ---- */

static void make_side(side *s, const char *name, int is_client, int fd, ULONG recv, ULONG send, uint32_t stream)
{
    memset(s, 0, sizeof(*s));
    s->name = name;
    s->fd = fd;
    s->stream = stream;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->throttle, NULL);
    s->region_len = (size_t)recv + send + 144;
    s->region = (BYTE *)malloc(s->region_len);
    T_ASSERT(s->region != NULL, "out of memory");
    T_OK(t_create_on_region(!is_client, recv, send, s->region, s->region_len, &s->h));
}

static void free_side(side *s)
{
    WebSocketDeleteHandle(s->h);
    free(s->region);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->throttle);
}

static ULONG pick(uint32_t *rng, const ULONG *choices, size_t n)
{
    return choices[t_rng_next(rng) % n];
}

/* ---- abort and drain ---- */

static void drain(side *s, WEB_SOCKET_ACTION_QUEUE q, WEB_SOCKET_ACTION expect)
{
    int seen = 0;
    for (int guard = 0;; guard++) {
        T_ASSERT(guard < 100, "[%s] drain does not end", s->name);
        WEB_SOCKET_BUFFER b[1];
        ULONG count;
        WEB_SOCKET_BUFFER_TYPE bt;
        PVOID app, ctx;
        WEB_SOCKET_ACTION a = get_action(s, q, b, 1, &count, &bt, &app, &ctx);
        if (a == WEB_SOCKET_NO_ACTION) {
            break;
        }
        T_ASSERT(a == expect && !seen, "[%s] drain of queue %d: action %d", s->name, (int)q, (int)a);
        seen = 1;
        WebSocketCompleteAction(s->h, ctx, 0);
    }
    T_ASSERT(seen, "[%s] drain of queue %d: the outstanding operation never completed", s->name, (int)q);
}

/* A pong becomes due while the client is in the middle of a frame and a
 * receive is outstanding; then the handle is aborted and drained. */
static void abort_and_drain(void)
{
    int fds[2];
    T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair: errno %d", errno);
    side c, sv;
    make_side(&c, "abort-client", 1, fds[0], 4096, 4096, 1);
    make_side(&sv, "abort-server", 0, fds[1], 4096, 16, 2);
    t_handshake(c.h, sv.h);

    /* The server pings; its bytes wait in the client's socket. */
    WEB_SOCKET_BUFFER b[2];
    ULONG count;
    WEB_SOCKET_BUFFER_TYPE bt;
    PVOID app, ctx;
    T_OK(WebSocketSend(sv.h, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, NULL));
    T_ASSERT(get_action(&sv, WEB_SOCKET_SEND_ACTION_QUEUE, b, 2, &count, &bt, &app, &ctx) ==
                 WEB_SOCKET_SEND_TO_NETWORK_ACTION, "server ping");
    WebSocketCompleteAction(sv.h, ctx, write_action(&sv, b, count));

    /* The client starts a 100 KB masked message: one action, more to come. */
    size_t n = 100000;
    BYTE *msg = (BYTE *)calloc(1, n);
    T_ASSERT(msg != NULL, "out of memory");
    c.payload = msg;
    c.payload_len = n;
    t_send(&(t_endpoint){.h = c.h}, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, msg, (ULONG)n, NULL);
    T_ASSERT(get_action(&c, WEB_SOCKET_SEND_ACTION_QUEUE, b, 2, &count, &bt, &app, &ctx) ==
                 WEB_SOCKET_SEND_TO_NETWORK_ACTION, "client data");
    ULONG first = 0;
    for (ULONG i = 0; i < count; i++) {
        first += b[i].Data.ulBufferLength;
    }
    T_ASSERT(first < n, "the message fits one action; the test needs a frame in several");
    WebSocketCompleteAction(c.h, ctx, first); /* written (to nowhere: the stream is aborted anyway) */

    /* The client receives: reads the ping, whose pong cannot go in the middle of
     * the frame. The receive queue must still not say NO_ACTION. */
    T_OK(WebSocketReceive(c.h, NULL, NULL));
    WEB_SOCKET_ACTION a = get_action(&c, WEB_SOCKET_RECEIVE_ACTION_QUEUE, b, 1, &count, &bt, &app, &ctx);
    T_ASSERT(a == WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION, "client receive: action %d", (int)a);
    ssize_t k = read(c.fd, b[0].Data.pbBuffer, b[0].Data.ulBufferLength);
    T_ASSERT(k == 2, "the ping frame is 2 bytes, read %zd", k);
    WebSocketCompleteAction(c.h, ctx, (ULONG)k);
    a = get_action(&c, WEB_SOCKET_RECEIVE_ACTION_QUEUE, b, 1, &count, &bt, &app, &ctx);
    T_ASSERT(a != WEB_SOCKET_NO_ACTION,
             "NO_ACTION on the receive queue with a receive outstanding (a pong due while the send queue is "
             "in the middle of a frame)");
    T_ASSERT(a == WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION, "client receive: action %d", (int)a);
    /* The stream goes away: .NET completes the read with 0, then aborts. */
    WebSocketCompleteAction(c.h, ctx, 0);
    WebSocketAbortHandle(c.h);
    drain(&c, WEB_SOCKET_SEND_ACTION_QUEUE, WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION);
    drain(&c, WEB_SOCKET_RECEIVE_ACTION_QUEUE, WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION);
    T_ASSERT(WebSocketSend(c.h, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, NULL, NULL) != S_OK, "send after abort");
    T_ASSERT(WebSocketReceive(c.h, NULL, NULL) != S_OK, "receive after abort");
    free(msg);
    free_side(&c);
    free_side(&sv);
    close(fds[0]);
    close(fds[1]);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        g_messages = strtoul(argv[1], NULL, 10);
    }
    const char *env = getenv("WSPC_PUMP_SEED");
    if (argc > 2) {
        g_seed = (uint32_t)strtoul(argv[2], NULL, 10);
    } else if (env && *env) {
        g_seed = (uint32_t)strtoul(env, NULL, 10);
    } else {
        g_seed = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
    }
    if (g_seed == 0) {
        g_seed = 1;
    }
    fprintf(stderr, "dotnet_pump: seed %u, %lu messages (repeat with: dotnet_pump %lu %u)\n", (unsigned)g_seed,
            g_messages, g_messages, (unsigned)g_seed);

    /* Buffer sizes .NET may pass: 16 KB is its default, 256 the minimum; server
     * handles always get a 16-byte send buffer. */
    static const ULONG recv_sizes[] = {256, 4096, 16384};
    static const ULONG client_send_sizes[] = {256, 4096, 16384};
    uint32_t rng = mix(g_seed, 0xB0F);
    ULONG crecv = pick(&rng, recv_sizes, 3), csend = pick(&rng, client_send_sizes, 3);
    ULONG srecv = pick(&rng, recv_sizes, 3);
    fprintf(stderr, "dotnet_pump: client receive %u send %u, server receive %u send 16\n", (unsigned)crecv,
            (unsigned)csend, (unsigned)srecv);

    int fds[2];
    T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair: errno %d", errno);
    make_side(&g_client, "client", 1, fds[0], crecv, csend, 1);
    make_side(&g_server, "server", 0, fds[1], srecv, 16, 2);
    t_handshake(g_client.h, g_server.h);

    pthread_t cs, cr, ss, sr;
    T_ASSERT(pthread_create(&cr, NULL, receive_main, &g_client) == 0, "pthread_create");
    T_ASSERT(pthread_create(&sr, NULL, receive_main, &g_server) == 0, "pthread_create");
    T_ASSERT(pthread_create(&cs, NULL, client_send_main, &g_client) == 0, "pthread_create");
    T_ASSERT(pthread_create(&ss, NULL, server_send_main, &g_server) == 0, "pthread_create");
    pthread_join(cs, NULL);
    pthread_join(ss, NULL);
    pthread_join(cr, NULL);
    pthread_join(sr, NULL);

    side *c = &g_client, *s = &g_server;
    printf("dotnet_pump: client sent %lu messages, server checked %lu (%lu chunks); server sent %lu, client "
           "checked %lu (%lu chunks)\n",
           c->sent, s->received, s->chunks, s->sent, c->received, c->chunks);
    printf("dotnet_pump: client pongs written from the receive queue %lu, from the send queue %lu, dropped "
           "after close %lu; server saw %lu pongs; send-queue NO_ACTION retries: client %lu, server %lu\n",
           c->auto_pongs_recv_queue, c->auto_pongs_send_queue, c->pongs_dropped, s->pongs_received,
           c->send_retries, s->send_retries);
    T_ASSERT(s->received == g_messages && c->received == g_messages / 2, "messages lost (seed %u)",
             (unsigned)g_seed);
    T_ASSERT(c->pongs_dropped >= 1, "no pong was due after the client's close (seed %u)", (unsigned)g_seed);
    /* Every pong written reached the server before the client's close (pongs
     * of pings that were waiting together may be merged: RFC 6455 5.5.3). */
    unsigned long pings = (g_messages / 2 + SERVER_PING_EVERY - 1) / SERVER_PING_EVERY;
    unsigned long written = c->auto_pongs_recv_queue + c->auto_pongs_send_queue - c->pongs_dropped;
    T_ASSERT(written <= pings && s->pongs_received == written + g_messages / CLIENT_PONG_EVERY,
             "pongs: %lu written for %lu pings, server saw %lu (seed %u)", written, pings, s->pongs_received,
             (unsigned)g_seed);

    free_side(&g_client);
    free_side(&g_server);
    close(fds[0]);
    close(fds[1]);

    abort_and_drain();
    printf("dotnet_pump: all checks passed (seed %u)\n", (unsigned)g_seed);
    return 0;
}
