/*
 * allocbuf.c -- the caller-allocated buffer property, used the way .NET
 * uses it (spec section 4): the application allocates one 8-byte aligned
 * region of exactly receive + send + 144 bytes per handle, stores its
 * address in a pointer-sized variable, points pvValue at that variable and
 * sets ulValueSize to the region's length. Afterwards every pointer that
 * WebSocketGetAction lends must lie inside that region, or inside the
 * caller's own send payload (zero-copy sends).
 *
 * Also: a region one byte too small and a misaligned region are refused
 * with E_INVALIDARG.
 */
#define T_PROGRAM "allocbuf"
#include "harness.h"

#include <stdint.h>

typedef struct {
    const BYTE *region;
    size_t region_len;
    const BYTE *payload; /* current outstanding send payload, if any */
    size_t payload_len;
    unsigned long lent; /* number of non-empty buffers checked */
    unsigned long in_payload;
} lend_check;

static int inside(const BYTE *p, size_t n, const BYTE *base, size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return a >= b && n <= len && a - b <= len - n;
}

static void check_lent(t_endpoint *ep, WEB_SOCKET_ACTION action, WEB_SOCKET_BUFFER_TYPE type,
                       const WEB_SOCKET_BUFFER *bufs, ULONG count)
{
    lend_check *lc = (lend_check *)ep->user;
    for (ULONG i = 0; i < count; i++) {
        const BYTE *p;
        size_t n;
        if (action == WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION && type == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
            p = bufs[i].CloseStatus.pbReason;
            n = bufs[i].CloseStatus.ulReasonLength;
        } else {
            p = bufs[i].Data.pbBuffer;
            n = bufs[i].Data.ulBufferLength;
        }
        if (n == 0) {
            continue;
        }
        lc->lent++;
        if (inside(p, n, lc->region, lc->region_len)) {
            continue;
        }
        if (lc->payload != NULL && inside(p, n, lc->payload, lc->payload_len)) {
            lc->in_payload++;
            continue;
        }
        T_ASSERT(0, "[%s] action %d buffer %u: %zu bytes at %p lie outside the allocated region %p+%zu%s", ep->name,
                 (int)action, (unsigned)i, n, (const void *)p, (const void *)lc->region, lc->region_len,
                 lc->payload ? " and outside the send payload" : "");
    }
}

/* Allocate an 8-aligned region of the .NET size and create a handle on it. */
static BYTE *create_on_region(int server, ULONG recv, ULONG send, size_t extra, size_t misalign,
                              WEB_SOCKET_HANDLE *h, HRESULT *hr_out, size_t *len_out)
{
    size_t len = (size_t)recv + send + 144 + extra;
    BYTE *raw = (BYTE *)malloc(len + 16);
    T_ASSERT(raw != NULL, "out of memory");
    T_ASSERT(((uintptr_t)raw & 7u) == 0, "malloc is not 8-aligned");
    *hr_out = t_create_on_region(server, recv, send, raw + misalign, len, h);
    *len_out = len;
    return raw;
}

static void fill(BYTE *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (BYTE)x;
    }
}

/* Send `len` bytes from `from` to `to`, optionally as two fragments. */
static void transfer(t_endpoint *from, t_endpoint *to, const BYTE *data, size_t len, int text, int fragmented)
{
    lend_check *lc = (lend_check *)from->user;
    WEB_SOCKET_BUFFER_TYPE frag = text ? WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE : WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE;
    WEB_SOCKET_BUFFER_TYPE last = text ? WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE : WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE;
    size_t first = fragmented ? len / 3 : 0;
    if (fragmented) {
        lc->payload = data;
        lc->payload_len = first;
        int before = from->send_completes;
        t_send(from, frag, data, (ULONG)first, NULL);
        t_pump(from);
        T_ASSERT(from->send_completes == before + 1, "[%s] fragment send not completed", from->name);
    }
    lc->payload = data + first;
    lc->payload_len = len - first;
    int before = from->send_completes;
    t_send(from, last, data + first, (ULONG)(len - first), NULL);
    t_pump(from);
    T_ASSERT(from->send_completes == before + 1, "[%s] send not completed", from->name);
    lc->payload = NULL;
    lc->payload_len = 0;

    t_endpoint_reset_msg(to);
    while (!to->msg_done) {
        t_receive_message(to);
        T_ASSERT(to->msg_done || to->read_pending, "[%s] stuck", to->name);
        if (!to->msg_done) {
            T_ASSERT(t_pipe_available(to->in) == 0, "[%s] waits although bytes are there", to->name);
            T_ASSERT(0, "[%s] message of %zu bytes incomplete after %zu bytes", to->name, len, to->msg_len);
        }
    }
    T_ASSERT(to->last_type == last, "[%s] last chunk type 0x%x", to->name, (unsigned)to->last_type);
    T_ASSERT(to->msg_len == len, "[%s] received %zu of %zu bytes", to->name, to->msg_len, len);
    T_ASSERT(len == 0 || memcmp(to->msg, data, len) == 0, "[%s] payload corrupted", to->name);
}

static void session(ULONG client_recv, ULONG client_send, ULONG server_recv, ULONG server_send, ULONG slots)
{
    printf("session: client recv %u send %u, server recv %u send %u, %u slot(s)\n", (unsigned)client_recv,
           (unsigned)client_send, (unsigned)server_recv, (unsigned)server_send, (unsigned)slots);
    WEB_SOCKET_HANDLE ch, sh;
    HRESULT hr;
    size_t clen, slen;
    BYTE *cregion = create_on_region(0, client_recv, client_send, 0, 0, &ch, &hr, &clen);
    T_ASSERT(hr == S_OK, "client create on a region of %zu bytes: 0x%08x", clen, (unsigned)hr);
    BYTE *sregion = create_on_region(1, server_recv, server_send, 0, 0, &sh, &hr, &slen);
    T_ASSERT(hr == S_OK, "server create on a region of %zu bytes: 0x%08x", slen, (unsigned)hr);
    t_handshake(ch, sh);

    t_pipe c2s, s2c;
    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));
    t_endpoint client, server;
    t_endpoint_init(&client, "client", ch, &s2c, &c2s);
    t_endpoint_init(&server, "server", sh, &c2s, &s2c);
    client.slots = server.slots = slots;
    lend_check clc, slc;
    memset(&clc, 0, sizeof(clc));
    memset(&slc, 0, sizeof(slc));
    clc.region = cregion;
    clc.region_len = clen;
    slc.region = sregion;
    slc.region_len = slen;
    client.user = &clc;
    server.user = &slc;
    client.hook = check_lent;
    server.hook = check_lent;

    static const size_t sizes[] = {0, 1, 125, 126, 127, 1000, 4095, 4096, 4097, 10000, 65535, 65536, 70001};
    size_t maxlen = 70001;
    BYTE *data = (BYTE *)malloc(maxlen);
    T_ASSERT(data != NULL, "out of memory");
    for (size_t i = 0; i < T_COUNT(sizes); i++) {
        fill(data, sizes[i], (unsigned)i);
        transfer(&client, &server, data, sizes[i], 0, 0);
        fill(data, sizes[i], (unsigned)i + 100);
        transfer(&server, &client, data, sizes[i], 0, 0);
        if (sizes[i] >= 3) {
            fill(data, sizes[i], (unsigned)i + 200);
            transfer(&client, &server, data, sizes[i], 0, 1);
            transfer(&server, &client, data, sizes[i], 0, 1);
        }
    }
    /* Text, ASCII only so any split is valid UTF-8. */
    for (size_t i = 0; i < 5000; i++) {
        data[i] = (BYTE)('A' + i % 26);
    }
    transfer(&client, &server, data, 5000, 1, 1);
    transfer(&server, &client, data, 5000, 1, 0);

    /* Ping from each side: the pong is built in the peer's region. */
    T_OK(WebSocketSend(ch, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, T_CTX));
    t_pump(&client);
    t_receive_message(&server); /* answers the ping, then waits */
    T_ASSERT(server.auto_sends == 1, "server sent no pong");
    t_receive_message(&client);
    T_ASSERT(client.last_type == WEB_SOCKET_PING_PONG_BUFFER_TYPE, "client saw no pong");
    T_OK(WebSocketSend(sh, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, T_CTX));
    t_pump(&server);
    t_receive_message(&client);
    T_ASSERT(client.auto_sends == 1, "client sent no pong");
    t_pump(&server); /* finish the waiting read: the pong */
    T_ASSERT(server.last_type == WEB_SOCKET_PING_PONG_BUFFER_TYPE, "server saw no pong");

    /* Close with a reason: the reason is lent from the receiver's region. The
     * sender may lend its own reason back out (it is the send's payload). */
    static const char client_reason[] = "bye from a client on its own memory";
    static const char server_reason[] = "bye";
    clc.payload = (const BYTE *)client_reason;
    clc.payload_len = strlen(client_reason);
    t_send_close(&client, 1000, client_reason);
    t_pump(&client);
    clc.payload = NULL;
    t_receive_message(&server);
    T_ASSERT(server.last_type == WEB_SOCKET_CLOSE_BUFFER_TYPE && server.close_status == 1000, "server saw no close");
    T_ASSERT(strcmp(server.close_reason, "bye from a client on its own memory") == 0, "reason \"%s\"",
             server.close_reason);
    slc.payload = (const BYTE *)server_reason;
    slc.payload_len = strlen(server_reason);
    t_send_close(&server, 1000, server_reason);
    t_pump(&server);
    slc.payload = NULL;
    t_pump(&client); /* the client's receive is still waiting: feed it */
    T_ASSERT(client.last_type == WEB_SOCKET_CLOSE_BUFFER_TYPE, "client saw no close");

    printf("  checked %lu lent buffers on the client (%lu in its own payload), %lu on the server (%lu)\n", clc.lent,
           clc.in_payload, slc.lent, slc.in_payload);
    T_ASSERT(clc.lent > 0 && slc.lent > 0, "nothing was checked");

    WebSocketDeleteHandle(ch);
    WebSocketDeleteHandle(sh);
    free(cregion);
    free(sregion);
    free(data);
    t_endpoint_free(&client);
    t_endpoint_free(&server);
    t_pipe_free(&c2s);
    t_pipe_free(&s2c);
}

static void refusals(void)
{
    printf("refusals\n");
    WEB_SOCKET_HANDLE h;
    HRESULT hr;
    size_t len;
    BYTE *r;

    /* One byte short of receive + send + 144. */
    r = create_on_region(0, 4096, 4096, 0, 0, &h, &hr, &len);
    T_ASSERT(hr == S_OK, "exact size refused: 0x%08x", (unsigned)hr);
    WebSocketDeleteHandle(h);
    free(r);
    r = create_on_region(0, 4096, 4096, (size_t)-1, 0, &h, &hr, &len);
    T_ASSERT(hr == E_INVALIDARG, "short region (%zu bytes) gave 0x%08x", len, (unsigned)hr);
    T_ASSERT(h == NULL, "handle written on failure");
    free(r);
    r = create_on_region(1, 4096, 16, (size_t)-1, 0, &h, &hr, &len);
    T_ASSERT(hr == E_INVALIDARG, "short server region gave 0x%08x", (unsigned)hr);
    free(r);

    /* Not 8-byte aligned. */
    r = create_on_region(0, 4096, 4096, 8, 4, &h, &hr, &len);
    T_ASSERT(hr == E_INVALIDARG, "misaligned region gave 0x%08x", (unsigned)hr);
    free(r);

    /* NULL address behind pvValue, and NULL pvValue. */
    {
        PVOID address = NULL;
        WEB_SOCKET_PROPERTY p;
        p.Type = WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE;
        p.pvValue = &address;
        p.ulValueSize = 100000;
        T_EXPECT(WebSocketCreateClientHandle(&p, 1, &h), E_INVALIDARG);
        p.pvValue = NULL;
        T_EXPECT(WebSocketCreateServerHandle(&p, 1, &h), E_INVALIDARG);
    }

    /* Region sized for the default buffers is also accepted without the
     * size properties (client 4096 + 4096, server 4096 + 16). */
    {
        BYTE *raw = (BYTE *)malloc(4096 + 4096 + 144);
        PVOID address = raw;
        WEB_SOCKET_PROPERTY p;
        p.Type = WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE;
        p.pvValue = &address;
        p.ulValueSize = 4096 + 4096 + 144;
        T_OK(WebSocketCreateClientHandle(&p, 1, &h));
        WebSocketDeleteHandle(h);
        p.ulValueSize = 4096 + 16 + 144;
        T_OK(WebSocketCreateServerHandle(&p, 1, &h));
        WebSocketDeleteHandle(h);
        free(raw);
    }
}

int main(void)
{
    refusals();
    session(4096, 4096, 4096, 16, 2); /* the defaults, as .NET passes them */
    session(4096, 4096, 4096, 16, 1); /* one buffer slot per action */
    session(256, 256, 256, 16, 2);    /* the smallest sizes */
    session(65536, 65536, 65536, 65536, 2);
    session(1000, 333, 777, 129, 1); /* odd sizes */
    printf("allocbuf: all checks passed\n");
    return 0;
}
