/*
 * deflate.c -- the one wspc extension: WSPC_PERMESSAGE_DEFLATE_PROPERTY_TYPE turns on
 * permessage-deflate. The handshake negotiates it, a repetitive message goes out much
 * smaller than it is and arrives intact, and without the property nothing changes.
 */
#define T_PROGRAM "deflate"
#include "harness.h"

static size_t wire_bytes_for(int deflate, BYTE *msg, size_t len, int *negotiated)
{
    BOOL on = TRUE;
    WEB_SOCKET_PROPERTY prop = {WSPC_PERMESSAGE_DEFLATE_PROPERTY_TYPE, &on, sizeof(on)};
    WEB_SOCKET_HANDLE c, s;
    T_OK(WebSocketCreateClientHandle(deflate ? &prop : NULL, deflate ? 1 : 0, &c));
    T_OK(WebSocketCreateServerHandle(deflate ? &prop : NULL, deflate ? 1 : 0, &s));

    PWEB_SOCKET_HTTP_HEADER ch = NULL, sh = NULL;
    ULONG chn = 0, shn = 0;
    T_OK(WebSocketBeginClientHandshake(c, NULL, 0, NULL, 0, NULL, 0, &ch, &chn));
    WEB_SOCKET_HTTP_HEADER req[16];
    for (ULONG i = 0; i < chn; i++) {
        req[i] = ch[i];
    }
    t_set_header(&req[chn], "Host", "localhost");
    T_OK(WebSocketBeginServerHandshake(s, NULL, NULL, 0, req, chn + 1, &sh, &shn));
    *negotiated = 0;
    for (ULONG i = 0; i < shn; i++) {
        if (sh[i].ulValueLength >= 18 && memcmp(sh[i].pcValue, "permessage-deflate", 18) == 0) {
            *negotiated = 1;
        }
    }
    T_OK(WebSocketEndClientHandshake(c, sh, shn, NULL, NULL, NULL));
    T_OK(WebSocketEndServerHandshake(s));

    t_pipe c2s, s2c;
    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));
    t_endpoint client, server;
    t_endpoint_init(&client, "client", c, &s2c, &c2s);
    t_endpoint_init(&server, "server", s, &c2s, &s2c);
    t_send(&client, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, msg, (ULONG)len, NULL);
    t_pump(&client);
    size_t wire = c2s.size;
    t_receive_message(&server);
    T_ASSERT(server.msg_done && server.msg_len == len && memcmp(server.msg, msg, len) == 0,
             "deflate=%d: the message did not arrive intact (%zu of %zu bytes)", deflate, server.msg_len, len);
    T_ASSERT(server.last_type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, "wrong type 0x%x", (unsigned)server.last_type);

    WebSocketDeleteHandle(c);
    WebSocketDeleteHandle(s);
    t_endpoint_free(&client);
    t_endpoint_free(&server);
    t_pipe_free(&c2s);
    t_pipe_free(&s2c);
    return wire;
}

int main(void)
{
    static BYTE msg[20000];
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (BYTE)("{\"sensor\":\"alpha\",\"value\":42},"[i % 30]);
    }
    int negotiated = 0;
    size_t plain = wire_bytes_for(0, msg, sizeof(msg), &negotiated);
    T_ASSERT(!negotiated, "permessage-deflate negotiated without the property");
    T_ASSERT(plain >= sizeof(msg), "plain message shorter on the wire (%zu)", plain);
    size_t packed = wire_bytes_for(1, msg, sizeof(msg), &negotiated);
    T_ASSERT(negotiated, "permessage-deflate not in the server's response headers");
    T_ASSERT(packed < sizeof(msg) / 10, "compressed message too large on the wire (%zu)", packed);

    /* Not combinable with a caller-allocated buffer. */
    static __attribute__((aligned(8))) BYTE region[4096 + 4096 + 144];
    PVOID addr = region;
    BOOL on = TRUE;
    WEB_SOCKET_PROPERTY props[2] = {
        {WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE, &addr, sizeof(region)},
        {WSPC_PERMESSAGE_DEFLATE_PROPERTY_TYPE, &on, sizeof(on)},
    };
    WEB_SOCKET_HANDLE h = NULL;
    T_ASSERT(WebSocketCreateClientHandle(props, 2, &h) == E_INVALIDARG, "deflate + allocated buffer accepted");
    printf("deflate: %zu bytes plain, %zu bytes compressed on the wire; all checks passed\n", plain, packed);
    return 0;
}
