/*
 * misuse.c -- every way a caller can get the API wrong, none of which may
 * crash: NULL handles and pointers, bogus handles, bad property values and
 * sizes, properties that do not belong to a Create call, calls in the wrong
 * state, a second outstanding send or receive, bad buffers, completing an
 * action context twice (or one that never existed), a protocol error from
 * the peer, use after abort, use after delete.
 *
 * The codes follow spec sections 5 and 12 (U5, U11, U20, U23):
 * E_INVALIDARG for bad arguments, E_INVALID_PROTOCOL_OPERATION for a call
 * the handle's kind or state does not allow, E_INVALID_PROTOCOL_FORMAT for bad peer data.
 */
#define T_PROGRAM "misuse"
#include "harness.h"

#include <stdint.h>

#define INSUFFICIENT_BUFFER HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER)

static int g_checks;
#define EXPECT(expr, expected)     \
    do {                           \
        g_checks++;                \
        T_EXPECT(expr, expected);  \
    } while (0)

/* A handle that is not one: memory that exists but was never a handle. */
static struct {
    uint64_t words[64];
} g_fake_handle_memory;

static WEB_SOCKET_PROPERTY prop(WEB_SOCKET_PROPERTY_TYPE type, PVOID value, ULONG size)
{
    WEB_SOCKET_PROPERTY p;
    p.Type = type;
    p.pvValue = value;
    p.ulValueSize = size;
    return p;
}

static void create_both_expect(const WEB_SOCKET_PROPERTY *p, ULONG n, HRESULT expected, const char *what)
{
    WEB_SOCKET_HANDLE h = NULL;
    HRESULT hr = WebSocketCreateClientHandle((PWEB_SOCKET_PROPERTY)p, n, &h);
    T_ASSERT(hr == expected, "client create with %s returned 0x%08x, expected 0x%08x", what, (unsigned)hr,
             (unsigned)expected);
    if (SUCCEEDED(hr)) {
        WebSocketDeleteHandle(h);
    }
    h = NULL;
    hr = WebSocketCreateServerHandle((PWEB_SOCKET_PROPERTY)p, n, &h);
    T_ASSERT(hr == expected, "server create with %s returned 0x%08x, expected 0x%08x", what, (unsigned)hr,
             (unsigned)expected);
    if (SUCCEEDED(hr)) {
        WebSocketDeleteHandle(h);
    }
    g_checks += 2;
}

static void creation(void)
{
    printf("creation and properties\n");
    WEB_SOCKET_HANDLE h;
    EXPECT(WebSocketCreateClientHandle(NULL, 0, NULL), E_INVALIDARG);
    EXPECT(WebSocketCreateServerHandle(NULL, 0, NULL), E_INVALIDARG);
    EXPECT(WebSocketCreateClientHandle(NULL, 1, &h), E_INVALIDARG);
    EXPECT(WebSocketCreateServerHandle(NULL, 3, &h), E_INVALIDARG);

    ULONG v = 4096, small_recv = 255, zero = 0, huge = 0xFFFFFFFFu, min_recv = 256, min_send = 16, small_send = 15;
    ULONG max_size = 65536;
    BOOL yes = TRUE;
    uint64_t eight = 4096;
    WEB_SOCKET_PROPERTY p;

    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &v, sizeof(v));
    create_both_expect(&p, 1, S_OK, "receive size 4096");
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &min_recv, sizeof(ULONG));
    create_both_expect(&p, 1, S_OK, "receive size 256");
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &max_size, sizeof(ULONG));
    create_both_expect(&p, 1, S_OK, "receive size 65536");
    p = prop(WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, &min_send, sizeof(ULONG));
    create_both_expect(&p, 1, S_OK, "send size 16");
    p = prop(WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE, &yes, sizeof(BOOL));
    create_both_expect(&p, 1, S_OK, "disable masking");
    p = prop(WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE, &yes, sizeof(BOOL));
    create_both_expect(&p, 1, S_OK, "disable UTF-8 verification");

    /* Bad values. */
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &small_recv, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "receive size 255");
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &zero, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "receive size 0");
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &huge, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "receive size 0xFFFFFFFF");
    p = prop(WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, &small_send, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "send size 15");
    p = prop(WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, &huge, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "send size 0xFFFFFFFF");

    /* Bad sizes and pointers. */
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &eight, sizeof(eight));
    create_both_expect(&p, 1, E_INVALIDARG, "an 8-byte receive size");
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &v, 2);
    create_both_expect(&p, 1, E_INVALIDARG, "a 2-byte receive size");
    p = prop(WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, &v, 0);
    create_both_expect(&p, 1, E_INVALIDARG, "a 0-byte send size");
    p = prop(WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE, &yes, 1);
    create_both_expect(&p, 1, E_INVALIDARG, "a 1-byte BOOL");
    p = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, NULL, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "a NULL value pointer");
    p = prop(WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE, NULL, sizeof(BOOL));
    create_both_expect(&p, 1, E_INVALIDARG, "a NULL BOOL pointer");

    /* Properties that do not belong to a Create call, and unknown ones. */
    ULONG keepalive = 30000;
    p = prop(WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE, &keepalive, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "the keep-alive property");
    ULONG versions[1] = {13};
    p = prop(WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE, versions, sizeof(versions));
    create_both_expect(&p, 1, E_INVALIDARG, "the supported-versions property");
    p = prop((WEB_SOCKET_PROPERTY_TYPE)7, &v, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "property type 7");
    p = prop((WEB_SOCKET_PROPERTY_TYPE)0x7FFFFFFF, &v, sizeof(ULONG));
    create_both_expect(&p, 1, E_INVALIDARG, "property type 0x7FFFFFFF");

    /* One bad property among good ones spoils the call. */
    WEB_SOCKET_PROPERTY ps[3];
    ps[0] = prop(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &v, sizeof(ULONG));
    ps[1] = prop(WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, &small_send, sizeof(ULONG));
    ps[2] = prop(WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE, &yes, sizeof(BOOL));
    create_both_expect(ps, 3, E_INVALIDARG, "one bad property of three");
    ps[1] = prop(WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, &v, sizeof(ULONG));
    create_both_expect(ps, 3, S_OK, "three good properties");
}

static void global_properties(void)
{
    printf("WebSocketGetGlobalProperty\n");
    ULONG value = 0, size = sizeof(value);
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE, &value, &size), S_OK);
    T_ASSERT(size == 4 && value >= 15000, "keep-alive %u ms, size %u", (unsigned)value, (unsigned)size);

    ULONG versions[4] = {0, 0, 0, 0};
    size = sizeof(versions);
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE, versions, &size), S_OK);
    T_ASSERT(size == 4 && versions[0] == 13, "supported versions: size %u, first %u", (unsigned)size,
             (unsigned)versions[0]);

    /* Too small: the size needed comes back. */
    USHORT tiny = 0;
    size = sizeof(tiny);
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE, &tiny, &size),
           INSUFFICIENT_BUFFER);
    T_ASSERT(size == 4, "needed size reported as %u", (unsigned)size);
    size = 0;
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE, NULL, &size),
           INSUFFICIENT_BUFFER);
    T_ASSERT(size == 4, "needed size reported as %u", (unsigned)size);

    /* NULL pointers and the wrong kind of property. */
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE, &value, NULL), E_INVALIDARG);
    size = 4;
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE, NULL, &size), E_INVALIDARG);
    size = 4;
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, &value, &size), E_INVALIDARG);
    size = 4;
    EXPECT(WebSocketGetGlobalProperty(WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE, &value, &size), E_INVALIDARG);
    size = 4;
    EXPECT(WebSocketGetGlobalProperty((WEB_SOCKET_PROPERTY_TYPE)99, &value, &size), E_INVALIDARG);
}

/* Every function with a handle that is not one. */
static void bad_handles(WEB_SOCKET_HANDLE bad, const char *what)
{
    printf("every function with %s\n", what);
    PWEB_SOCKET_HTTP_HEADER headers = NULL;
    ULONG count = 0;
    WEB_SOCKET_HTTP_HEADER one;
    t_set_header(&one, "Host", "x");
    EXPECT(WebSocketBeginClientHandshake(bad, NULL, 0, NULL, 0, NULL, 0, &headers, &count), E_INVALIDARG);
    EXPECT(WebSocketEndClientHandshake(bad, &one, 1, NULL, NULL, NULL), E_INVALIDARG);
    EXPECT(WebSocketBeginServerHandshake(bad, NULL, NULL, 0, &one, 1, &headers, &count), E_INVALIDARG);
    EXPECT(WebSocketEndServerHandshake(bad), E_INVALIDARG);
    EXPECT(WebSocketSend(bad, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, NULL), E_INVALIDARG);
    EXPECT(WebSocketReceive(bad, NULL, NULL), E_INVALIDARG);

    WEB_SOCKET_BUFFER bufs[2];
    ULONG n = 2;
    WEB_SOCKET_ACTION action = WEB_SOCKET_SEND_TO_NETWORK_ACTION;
    WEB_SOCKET_BUFFER_TYPE type;
    PVOID app = (PVOID)&n, ctx = (PVOID)&n;
    EXPECT(WebSocketGetAction(bad, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx),
           E_INVALIDARG);
    T_ASSERT(action == WEB_SOCKET_NO_ACTION, "failing GetAction wrote action %d", (int)action);
    T_ASSERT(ctx == NULL, "failing GetAction left a non-NULL action context");
    T_ASSERT(n == 0, "failing GetAction left a buffer count of %u", (unsigned)n);

    /* The VOID functions must simply do nothing. */
    WebSocketCompleteAction(bad, NULL, 0);
    WebSocketCompleteAction(bad, (PVOID)&n, 17);
    WebSocketAbortHandle(bad);
    WebSocketDeleteHandle(bad);
}

static void handshake_misuse(void)
{
    printf("handshake misuse\n");
    WEB_SOCKET_HANDLE c, s;
    T_OK(WebSocketCreateClientHandle(NULL, 0, &c));
    T_OK(WebSocketCreateServerHandle(NULL, 0, &s));
    PWEB_SOCKET_HTTP_HEADER headers = NULL;
    ULONG count = 0;

    /* Session calls before the handshake. */
    static BYTE data[4] = {1, 2, 3, 4};
    WEB_SOCKET_BUFFER b;
    memset(&b, 0, sizeof(b));
    b.Data.pbBuffer = data;
    b.Data.ulBufferLength = 4;
    EXPECT(WebSocketSend(c, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, &b, NULL), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketReceive(c, NULL, NULL), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketEndClientHandshake(c, NULL, 0, NULL, NULL, NULL), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketEndServerHandshake(s), E_INVALID_PROTOCOL_OPERATION);

    /* The wrong function for the handle's kind: the handle is valid, the call
     * is not one its state allows. */
    WEB_SOCKET_HTTP_HEADER host;
    t_set_header(&host, "Host", "localhost");
    EXPECT(WebSocketBeginServerHandshake(c, NULL, NULL, 0, &host, 1, &headers, &count),
           E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketBeginClientHandshake(s, NULL, 0, NULL, 0, NULL, 0, &headers, &count),
           E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketEndServerHandshake(c), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketEndClientHandshake(s, &host, 1, NULL, NULL, NULL), E_INVALID_PROTOCOL_OPERATION);

    /* NULL out-pointers and arrays. */
    EXPECT(WebSocketBeginClientHandshake(c, NULL, 0, NULL, 0, NULL, 0, NULL, &count), E_INVALIDARG);
    EXPECT(WebSocketBeginClientHandshake(c, NULL, 0, NULL, 0, NULL, 0, &headers, NULL), E_INVALIDARG);
    EXPECT(WebSocketBeginClientHandshake(c, NULL, 1, NULL, 0, NULL, 0, &headers, &count), E_INVALIDARG);
    EXPECT(WebSocketBeginClientHandshake(c, NULL, 0, NULL, 2, NULL, 0, &headers, &count), E_INVALIDARG);
    EXPECT(WebSocketBeginClientHandshake(c, NULL, 0, NULL, 0, NULL, 1, &headers, &count), E_INVALIDARG);
    PCSTR protocols[2] = {"chat", NULL};
    EXPECT(WebSocketBeginClientHandshake(c, protocols, 2, NULL, 0, NULL, 0, &headers, &count), E_INVALIDARG);
    WEB_SOCKET_HTTP_HEADER broken;
    broken.pcName = NULL;
    broken.ulNameLength = 4;
    broken.pcValue = NULL;
    broken.ulValueLength = 0;
    EXPECT(WebSocketBeginClientHandshake(c, NULL, 0, NULL, 0, &broken, 1, &headers, &count), E_INVALIDARG);

    /* The real thing, then the same call again. */
    T_OK(WebSocketBeginClientHandshake(c, protocols, 1, NULL, 0, NULL, 0, &headers, &count));
    T_ASSERT(headers != NULL && count >= 4, "no client headers");
    PWEB_SOCKET_HTTP_HEADER again = NULL;
    ULONG again_count = 0;
    EXPECT(WebSocketBeginClientHandshake(c, NULL, 0, NULL, 0, NULL, 0, &again, &again_count),
           E_INVALID_PROTOCOL_OPERATION);

    /* Server: requests that are not WebSocket upgrades. */
    WEB_SOCKET_HTTP_HEADER req[16];
    ULONG n = 0;
    for (ULONG i = 0; i < count; i++) {
        if (headers[i].ulNameLength == 17 && memcmp(headers[i].pcName, "Sec-WebSocket-Key", 17) == 0) {
            continue;
        }
        req[n++] = headers[i];
    }
    req[n++] = host;
    PWEB_SOCKET_HTTP_HEADER resp = NULL;
    ULONG resp_count = 0;
    EXPECT(WebSocketBeginServerHandshake(s, NULL, NULL, 0, req, n, &resp, &resp_count), E_INVALID_PROTOCOL_FORMAT);
    EXPECT(WebSocketBeginServerHandshake(s, NULL, NULL, 0, NULL, 0, &resp, &resp_count), E_INVALID_PROTOCOL_FORMAT);
    EXPECT(WebSocketBeginServerHandshake(s, NULL, NULL, 0, NULL, 2, &resp, &resp_count), E_INVALIDARG);
    EXPECT(WebSocketBeginServerHandshake(s, NULL, NULL, 1, req, n, &resp, &resp_count), E_INVALIDARG);

    /* A good request; then a forged accept value for the client. */
    WebSocketDeleteHandle(s);
    T_OK(WebSocketCreateServerHandle(NULL, 0, &s));
    for (n = 0; n < count; n++) {
        req[n] = headers[n];
    }
    req[n++] = host;
    EXPECT(WebSocketBeginServerHandshake(s, "chat", NULL, 0, req, n, NULL, &resp_count), E_INVALIDARG);
    EXPECT(WebSocketBeginServerHandshake(s, "chat", NULL, 0, req, n, &resp, NULL), E_INVALIDARG);
    T_OK(WebSocketBeginServerHandshake(s, "chat", NULL, 0, req, n, &resp, &resp_count));
    WEB_SOCKET_HTTP_HEADER forged[8];
    ULONG fn = 0;
    for (ULONG i = 0; i < resp_count && fn < 8; i++) {
        forged[fn] = resp[i];
        if (resp[i].ulNameLength == 20 && memcmp(resp[i].pcName, "Sec-WebSocket-Accept", 20) == 0) {
            forged[fn].pcValue = (PCHAR) "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
            forged[fn].ulValueLength = 28;
        }
        fn++;
    }
    EXPECT(WebSocketEndClientHandshake(c, forged, fn, NULL, NULL, NULL), E_INVALID_PROTOCOL_FORMAT);
    EXPECT(WebSocketEndClientHandshake(c, NULL, 3, NULL, NULL, NULL), E_INVALIDARG);

    WebSocketDeleteHandle(c);
    WebSocketDeleteHandle(s);
}

/* Two connected handles; returns them in c and s, pipes in c2s/s2c. */
static void connect_pair(t_endpoint *client, t_endpoint *server, t_pipe *c2s, t_pipe *s2c)
{
    WEB_SOCKET_HANDLE c, s;
    T_OK(WebSocketCreateClientHandle(NULL, 0, &c));
    T_OK(WebSocketCreateServerHandle(NULL, 0, &s));
    t_handshake(c, s);
    memset(c2s, 0, sizeof(*c2s));
    memset(s2c, 0, sizeof(*s2c));
    t_endpoint_init(client, "client", c, s2c, c2s);
    t_endpoint_init(server, "server", s, c2s, s2c);
}

static void disconnect_pair(t_endpoint *client, t_endpoint *server, t_pipe *c2s, t_pipe *s2c)
{
    WebSocketDeleteHandle(client->h);
    WebSocketDeleteHandle(server->h);
    t_endpoint_free(client);
    t_endpoint_free(server);
    t_pipe_free(c2s);
    t_pipe_free(s2c);
}

static void session_misuse(void)
{
    printf("session misuse\n");
    t_pipe c2s, s2c;
    t_endpoint client, server;
    connect_pair(&client, &server, &c2s, &s2c);
    WEB_SOCKET_HANDLE c = client.h;

    static BYTE data[200];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (BYTE)('a' + i % 26);
    }
    WEB_SOCKET_BUFFER b;

    /* Bad buffers for WebSocketSend. */
    memset(&b, 0, sizeof(b));
    b.Data.pbBuffer = data;
    b.Data.ulBufferLength = 4;
    EXPECT(WebSocketSend(c, (WEB_SOCKET_BUFFER_TYPE)0, &b, NULL), E_INVALIDARG);
    EXPECT(WebSocketSend(c, (WEB_SOCKET_BUFFER_TYPE)0x80000007u, &b, NULL), E_INVALIDARG);
    EXPECT(WebSocketSend(c, (WEB_SOCKET_BUFFER_TYPE)0x12345, &b, NULL), E_INVALIDARG);
    EXPECT(WebSocketSend(c, WEB_SOCKET_PING_PONG_BUFFER_TYPE, &b, NULL), E_INVALIDARG);
    EXPECT(WebSocketSend(c, WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE, &b, NULL), E_INVALIDARG);
    EXPECT(WebSocketSend(c, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, NULL, NULL), E_INVALIDARG);
    b.Data.pbBuffer = NULL;
    b.Data.ulBufferLength = 5;
    EXPECT(WebSocketSend(c, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, &b, NULL), E_INVALIDARG);
    memset(&b, 0, sizeof(b));
    b.CloseStatus.usStatus = 1000;
    b.CloseStatus.pbReason = data;
    b.CloseStatus.ulReasonLength = WEB_SOCKET_MAX_CLOSE_REASON_LENGTH + 1;
    EXPECT(WebSocketSend(c, WEB_SOCKET_CLOSE_BUFFER_TYPE, &b, NULL), E_INVALIDARG);
    b.CloseStatus.pbReason = NULL;
    b.CloseStatus.ulReasonLength = 3;
    EXPECT(WebSocketSend(c, WEB_SOCKET_CLOSE_BUFFER_TYPE, &b, NULL), E_INVALIDARG);

    /* GetAction with bad arguments: fails, writes NO_ACTION and NULL. */
    WEB_SOCKET_BUFFER bufs[2];
    ULONG n;
    WEB_SOCKET_ACTION action;
    WEB_SOCKET_BUFFER_TYPE type;
    PVOID app, ctx;
#define RESET_OUTS() (n = 2, action = WEB_SOCKET_SEND_TO_NETWORK_ACTION, app = (PVOID)&n, ctx = (PVOID)&n)
#define OUTS_CLEARED()                                                                                      \
    T_ASSERT(action == WEB_SOCKET_NO_ACTION && ctx == NULL, "failing GetAction: action %d, context %p", \
             (int)action, ctx)
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, NULL, &action, &type, &app, &ctx), E_INVALIDARG);
    OUTS_CLEARED();
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, NULL, &type, &app, &ctx), E_INVALIDARG);
    T_ASSERT(ctx == NULL, "failing GetAction left a context");
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, NULL, &app, &ctx), E_INVALIDARG);
    OUTS_CLEARED();
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, NULL), E_INVALIDARG);
    T_ASSERT(action == WEB_SOCKET_NO_ACTION, "failing GetAction: action %d", (int)action);
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_ALL_ACTION_QUEUE, NULL, &n, &action, &type, &app, &ctx), E_INVALIDARG);
    OUTS_CLEARED();
    RESET_OUTS();
    n = 0;
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx), E_INVALIDARG);
    OUTS_CLEARED();
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, (WEB_SOCKET_ACTION_QUEUE)0, bufs, &n, &action, &type, &app, &ctx), E_INVALIDARG);
    OUTS_CLEARED();
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, (WEB_SOCKET_ACTION_QUEUE)4, bufs, &n, &action, &type, &app, &ctx), E_INVALIDARG);
    OUTS_CLEARED();
    /* With nothing queued: NO_ACTION, and the application context is left alone. */
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx), S_OK);
    T_ASSERT(action == WEB_SOCKET_NO_ACTION, "idle handle returned action %d", (int)action);
    T_ASSERT(app == (PVOID)&n, "NO_ACTION wrote the application context");
    WebSocketCompleteAction(c, ctx, 0); /* completing NO_ACTION: harmless */
    WebSocketCompleteAction(c, ctx, 0); /* twice */
    WebSocketCompleteAction(c, NULL, 0);
    WebSocketCompleteAction(c, (PVOID)&n, 99); /* never handed out */

    /* A second outstanding send and receive. */
    memset(&b, 0, sizeof(b));
    b.Data.pbBuffer = data;
    b.Data.ulBufferLength = 100;
    static int first_ctx, second_ctx;
    EXPECT(WebSocketSend(c, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, &b, &first_ctx), S_OK);
    EXPECT(WebSocketSend(c, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, &b, &second_ctx), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketSend(c, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, &second_ctx), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketReceive(c, NULL, NULL), S_OK);
    EXPECT(WebSocketReceive(c, NULL, NULL), E_INVALID_PROTOCOL_OPERATION);

    /* Completing a context twice: the second completion must not count
     * for the action handed out next. */
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_SEND_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx), S_OK);
    T_ASSERT(action == WEB_SOCKET_SEND_TO_NETWORK_ACTION, "expected SEND_TO_NETWORK, got %d", (int)action);
    T_ASSERT(app == &first_ctx, "wrong application context");
    PVOID first_action = ctx;
    ULONG total = 0;
    for (ULONG i = 0; i < n; i++) {
        t_pipe_write(&c2s, bufs[i].Data.pbBuffer, bufs[i].Data.ulBufferLength);
        total += bufs[i].Data.ulBufferLength;
    }
    /* While this action is outstanding, the send queue has nothing else. */
    {
        WEB_SOCKET_BUFFER b2[2];
        ULONG n2 = 2;
        WEB_SOCKET_ACTION a2;
        WEB_SOCKET_BUFFER_TYPE t2;
        PVOID c2 = NULL;
        EXPECT(WebSocketGetAction(c, WEB_SOCKET_SEND_ACTION_QUEUE, b2, &n2, &a2, &t2, NULL, &c2), S_OK);
        T_ASSERT(a2 == WEB_SOCKET_NO_ACTION, "a second send action while one is outstanding: %d", (int)a2);
    }
    WebSocketCompleteAction(c, first_action, total);
    WebSocketCompleteAction(c, first_action, total); /* twice */
    RESET_OUTS();
    EXPECT(WebSocketGetAction(c, WEB_SOCKET_SEND_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx), S_OK);
    T_ASSERT(action == WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION, "expected INDICATE_SEND_COMPLETE, got %d",
             (int)action);
    WebSocketCompleteAction(c, first_action, 0); /* stale: must not complete this one */
    {
        /* Still outstanding, so the queue offers nothing new. */
        WEB_SOCKET_BUFFER b2[2];
        ULONG n2 = 2;
        WEB_SOCKET_ACTION a2;
        WEB_SOCKET_BUFFER_TYPE t2;
        PVOID c2 = NULL;
        EXPECT(WebSocketGetAction(c, WEB_SOCKET_SEND_ACTION_QUEUE, b2, &n2, &a2, &t2, NULL, &c2), S_OK);
        T_ASSERT(a2 == WEB_SOCKET_NO_ACTION, "stale completion completed the new action (got action %d)", (int)a2);
    }
    WebSocketCompleteAction(c, ctx, 0);
    WebSocketCompleteAction(c, ctx, 0); /* twice again */

    /* The server still sees exactly one intact message. */
    t_receive_message(&server);
    T_ASSERT(server.msg_done && server.last_type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE && server.msg_len == 100 &&
                 memcmp(server.msg, data, 100) == 0,
             "the message did not survive double completions");

    /* A context of one handle completed on another is ignored. */
    {
        static BYTE pong_data[1];
        (void)pong_data;
        EXPECT(WebSocketSend(server.h, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, NULL), S_OK);
        RESET_OUTS();
        EXPECT(WebSocketGetAction(server.h, WEB_SOCKET_SEND_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx),
               S_OK);
        T_ASSERT(action == WEB_SOCKET_SEND_TO_NETWORK_ACTION, "expected the ping, got %d", (int)action);
        WebSocketCompleteAction(c, ctx, 6); /* wrong handle */
        ULONG total2 = 0;
        for (ULONG i = 0; i < n; i++) {
            t_pipe_write(&s2c, bufs[i].Data.pbBuffer, bufs[i].Data.ulBufferLength);
            total2 += bufs[i].Data.ulBufferLength;
        }
        WebSocketCompleteAction(server.h, ctx, total2);
        t_pump(&server);
        t_pump(&client); /* the client's receive answers the ping */
        T_ASSERT(client.auto_sends == 1, "client did not answer the ping");
    }

    /* Mixing text and binary inside one message. */
    t_pump(&server);
    memset(&b, 0, sizeof(b));
    b.Data.pbBuffer = data;
    b.Data.ulBufferLength = 10;
    EXPECT(WebSocketSend(c, WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE, &b, NULL), S_OK);
    t_pump(&client);
    EXPECT(WebSocketSend(c, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, &b, NULL), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketSend(c, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, &b, NULL), S_OK);
    t_pump(&client);

    /* After our close: no more data, but control frames are fine. */
    t_send_close(&client, 1000, "done");
    t_pump(&client);
    EXPECT(WebSocketSend(c, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, &b, NULL), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketSend(c, WEB_SOCKET_CLOSE_BUFFER_TYPE, NULL, NULL), E_INVALID_PROTOCOL_OPERATION);

    /* Server: receive the message pieces and the close, answer it. */
    for (int guard = 0; server.last_type != WEB_SOCKET_CLOSE_BUFFER_TYPE; guard++) {
        T_ASSERT(guard < 100, "server never saw the close");
        t_receive_message(&server);
    }
    t_send_close(&server, 1000, "ok");
    t_pump(&server);
    t_pump(&client);
    T_ASSERT(client.last_type == WEB_SOCKET_CLOSE_BUFFER_TYPE, "client never saw the close");
    /* Receive after the close arrived. */
    EXPECT(WebSocketReceive(c, NULL, NULL), E_INVALID_PROTOCOL_OPERATION);
    EXPECT(WebSocketReceive(server.h, NULL, NULL), E_INVALID_PROTOCOL_OPERATION);

    disconnect_pair(&client, &server, &c2s, &s2c);
}

static void protocol_error(void)
{
    printf("protocol error from the peer\n");
    t_pipe c2s, s2c;
    t_endpoint client, server;
    connect_pair(&client, &server, &c2s, &s2c);

    /* An unmasked frame from a "client": the server must refuse it. */
    static const BYTE unmasked[] = {0x81, 0x02, 'h', 'i'};
    t_pipe_write(&c2s, unmasked, sizeof(unmasked));
    EXPECT(WebSocketReceive(server.h, NULL, NULL), S_OK);
    WEB_SOCKET_BUFFER bufs[2];
    ULONG n = 2;
    WEB_SOCKET_ACTION action;
    WEB_SOCKET_BUFFER_TYPE type;
    PVOID app = NULL, ctx = NULL;
    EXPECT(WebSocketGetAction(server.h, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx), S_OK);
    T_ASSERT(action == WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION, "expected a read, got %d", (int)action);
    WebSocketCompleteAction(server.h, ctx, t_pipe_read(&c2s, bufs[0].Data.pbBuffer, bufs[0].Data.ulBufferLength));
    n = 2;
    action = WEB_SOCKET_SEND_TO_NETWORK_ACTION;
    ctx = (PVOID)&n;
    HRESULT hr = WebSocketGetAction(server.h, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx);
    g_checks++;
    T_ASSERT(hr == E_INVALID_PROTOCOL_FORMAT, "unmasked client frame gave 0x%08x", (unsigned)hr);
    T_ASSERT(action == WEB_SOCKET_NO_ACTION && ctx == NULL && n == 0,
             "failing GetAction: action %d, context %p, count %u", (int)action, ctx, (unsigned)n);
    WebSocketCompleteAction(server.h, ctx, 0); /* as the Windows sample does */
    /* It stays failed. */
    n = 2;
    hr = WebSocketGetAction(server.h, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx);
    T_ASSERT(FAILED(hr) || action == WEB_SOCKET_NO_ACTION || action == WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION,
             "a failed handle goes on with action %d", (int)action);
    if (SUCCEEDED(hr)) {
        WebSocketCompleteAction(server.h, ctx, 0);
    }

    /* Abort and drain, then everything is refused. */
    WebSocketAbortHandle(server.h);
    for (int guard = 0;; guard++) {
        T_ASSERT(guard < 10, "drain never ends");
        n = 1;
        hr = WebSocketGetAction(server.h, WEB_SOCKET_ALL_ACTION_QUEUE, bufs, &n, &action, &type, &app, &ctx);
        if (FAILED(hr) || action == WEB_SOCKET_NO_ACTION) {
            break;
        }
        T_ASSERT(action == WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION ||
                     action == WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION,
                 "network action %d after abort", (int)action);
        WebSocketCompleteAction(server.h, ctx, 0);
    }
    T_ASSERT(FAILED(WebSocketReceive(server.h, NULL, NULL)), "receive after abort succeeded");
    T_ASSERT(FAILED(WebSocketSend(server.h, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, NULL)), "send after abort succeeded");

    disconnect_pair(&client, &server, &c2s, &s2c);
}

static void abort_delete(void)
{
    printf("abort and delete\n");
    WEB_SOCKET_HANDLE c;
    /* Abort before the handshake: no effect, no crash. */
    T_OK(WebSocketCreateClientHandle(NULL, 0, &c));
    WebSocketAbortHandle(c);
    WebSocketAbortHandle(c);
    WebSocketDeleteHandle(c);

    /* Delete with operations outstanding: nothing leaks, caller memory untouched. */
    t_pipe c2s, s2c;
    t_endpoint client, server;
    connect_pair(&client, &server, &c2s, &s2c);
    static BYTE data[5000];
    memset(data, 0x5A, sizeof(data));
    WEB_SOCKET_BUFFER b;
    memset(&b, 0, sizeof(b));
    b.Data.pbBuffer = data;
    b.Data.ulBufferLength = sizeof(data);
    T_OK(WebSocketSend(client.h, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, &b, NULL));
    T_OK(WebSocketReceive(client.h, NULL, NULL));
    WEB_SOCKET_BUFFER bufs[2];
    ULONG n = 2;
    WEB_SOCKET_ACTION action;
    WEB_SOCKET_BUFFER_TYPE type;
    PVOID ctx = NULL;
    T_OK(WebSocketGetAction(client.h, WEB_SOCKET_SEND_ACTION_QUEUE, bufs, &n, &action, &type, NULL, &ctx));
    /* ... and the action is never completed. */
    WEB_SOCKET_HANDLE stale = client.h;
    WebSocketDeleteHandle(client.h);
    for (size_t i = 0; i < sizeof(data); i++) {
        T_ASSERT(data[i] == 0x5A, "the caller's payload was written to");
    }
    /* Using the deleted handle is refused, not a crash (no handle was
     * created in between, so the address cannot have been reused). */
    EXPECT(WebSocketReceive(stale, NULL, NULL), E_INVALIDARG);
    WebSocketCompleteAction(stale, ctx, 0);
    WebSocketAbortHandle(stale);
    WebSocketDeleteHandle(stale); /* twice */
    client.h = NULL;

    WebSocketDeleteHandle(server.h);
    server.h = NULL;
    t_endpoint_free(&client);
    t_endpoint_free(&server);
    t_pipe_free(&c2s);
    t_pipe_free(&s2c);

    /* Delete in the middle of a handshake: the handshake memory goes too. */
    WEB_SOCKET_HANDLE h;
    PWEB_SOCKET_HTTP_HEADER headers;
    ULONG count;
    T_OK(WebSocketCreateClientHandle(NULL, 0, &h));
    T_OK(WebSocketBeginClientHandshake(h, NULL, 0, NULL, 0, NULL, 0, &headers, &count));
    WebSocketDeleteHandle(h);
}

int main(void)
{
    creation();
    global_properties();
    bad_handles(NULL, "a NULL handle");
    bad_handles((WEB_SOCKET_HANDLE)(void *)&g_fake_handle_memory, "a pointer to memory that is not a handle");
    bad_handles((WEB_SOCKET_HANDLE)(uintptr_t)0x10, "a wild pointer");
    handshake_misuse();
    session_misuse();
    protocol_error();
    abort_delete();
    printf("misuse: all %d checks passed\n", g_checks);
    return 0;
}
