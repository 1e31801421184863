/*
 * sample.c -- the API used the way Windows programs use it.
 *
 * Modelled on the structure of the Windows classic WebSocket sample: a
 * client handle and a server handle in one process, a handshake done purely
 * by passing header arrays between them, and a run loop per handle that
 * switches on the action type and moves bytes through an in-memory
 * transport. Every step is printed and asserted.
 *
 * Then, beyond the classic sample: a message several times the receive
 * buffer arriving as FRAGMENT chunks, ping/pong and an unsolicited pong, a
 * close started by each side with status and reason, abort and drain, and
 * delete.
 *
 * Exit status 0 when every assertion held.
 */
#include <websocket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAYSIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ASSERT(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "sample.c:%d: assertion failed: %s\n  ", __LINE__, \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

#define ASSERT_HR(expr)                                                                   \
    do {                                                                                  \
        HRESULT hr_ = (expr);                                                             \
        ASSERT(SUCCEEDED(hr_), "%s returned 0x%08x", #expr, (unsigned)hr_);               \
    } while (0)

/* ------------------------------------------------------------------ */
/* Transport: a one-way in-memory byte pipe (what a socket would be). */

typedef struct {
    BYTE *data;
    size_t size;
    size_t readPos;
    size_t capacity;
} Transport;

static void TransportWrite(Transport *t, const BYTE *p, size_t n)
{
    if (t->size + n > t->capacity) {
        size_t cap = t->capacity ? t->capacity : 4096;
        while (cap < t->size + n) {
            cap *= 2;
        }
        t->data = (BYTE *)realloc(t->data, cap);
        ASSERT(t->data != NULL, "out of memory");
        t->capacity = cap;
    }
    if (n > 0) {
        memcpy(t->data + t->size, p, n);
    }
    t->size += n;
}

static size_t TransportAvailable(const Transport *t)
{
    return t->size - t->readPos;
}

static ULONG TransportRead(Transport *t, BYTE *p, ULONG max)
{
    size_t n = TransportAvailable(t);
    if (n > max) {
        n = max;
    }
    if (n > 0) {
        memcpy(p, t->data + t->readPos, n);
    }
    t->readPos += n;
    if (t->readPos == t->size) {
        t->readPos = t->size = 0;
    }
    return (ULONG)n;
}

static void TransportFree(Transport *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------ */
/* One endpoint: a handle plus its two directions of transport.        */

typedef struct {
    BYTE data[65536];
    size_t length;
    WEB_SOCKET_BUFFER_TYPE type;
    USHORT closeStatus;
    char closeReason[WEB_SOCKET_MAX_CLOSE_REASON_LENGTH + 1];
    int chunks;
    int maxChunk;
    int fragmentChunks;
    int completed;
} Received;

typedef struct {
    const char *name;
    WEB_SOCKET_HANDLE handle;
    Transport *in;
    Transport *out;
    /* A RECEIVE_FROM_NETWORK action that is waiting for bytes, like an
     * outstanding asynchronous socket read. */
    int readPending;
    PVOID readActionContext;
    BYTE *readBuffer;
    ULONG readLength;
    /* What the run loop saw. */
    int sendsCompleted;
    int bytesSent;
    int autoSends;
    Received received;
} Endpoint;

static const char *ActionName(WEB_SOCKET_ACTION action)
{
    switch (action) {
    case WEB_SOCKET_NO_ACTION:
        return "NO_ACTION";
    case WEB_SOCKET_SEND_TO_NETWORK_ACTION:
        return "SEND_TO_NETWORK";
    case WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION:
        return "INDICATE_SEND_COMPLETE";
    case WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION:
        return "RECEIVE_FROM_NETWORK";
    case WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION:
        return "INDICATE_RECEIVE_COMPLETE";
    }
    return "?";
}

static const char *TypeName(WEB_SOCKET_BUFFER_TYPE type)
{
    switch (type) {
    case WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE:
        return "UTF8_MESSAGE";
    case WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE:
        return "UTF8_FRAGMENT";
    case WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE:
        return "BINARY_MESSAGE";
    case WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE:
        return "BINARY_FRAGMENT";
    case WEB_SOCKET_CLOSE_BUFFER_TYPE:
        return "CLOSE";
    case WEB_SOCKET_PING_PONG_BUFFER_TYPE:
        return "PING_PONG";
    case WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE:
        return "UNSOLICITED_PONG";
    }
    return "(other)";
}

static void ResetReceived(Endpoint *ep)
{
    memset(&ep->received, 0, sizeof(ep->received));
}

/* Handle the data of an INDICATE_RECEIVE_COMPLETE: copy it out before the
 * action is completed, since the buffer is only lent until then. */
static void OnReceiveComplete(Endpoint *ep, const WEB_SOCKET_BUFFER *buffer, WEB_SOCKET_BUFFER_TYPE type)
{
    Received *r = &ep->received;
    r->type = type;
    r->chunks++;
    if (type == WEB_SOCKET_CLOSE_BUFFER_TYPE) {
        ULONG n = buffer->CloseStatus.ulReasonLength;
        ASSERT(n <= WEB_SOCKET_MAX_CLOSE_REASON_LENGTH, "close reason too long: %u", (unsigned)n);
        ASSERT(n == 0 || buffer->CloseStatus.pbReason != NULL, "reason length %u with NULL pointer",
               (unsigned)n);
        if (n > 0) {
            memcpy(r->closeReason, buffer->CloseStatus.pbReason, n);
        }
        r->closeReason[n] = '\0';
        r->closeStatus = buffer->CloseStatus.usStatus;
        r->completed = 1;
        printf("  [%s] received CLOSE status %u reason \"%s\"\n", ep->name, (unsigned)r->closeStatus,
               r->closeReason);
        return;
    }
    ULONG n = buffer->Data.ulBufferLength;
    ASSERT(n == 0 || buffer->Data.pbBuffer != NULL, "length %u with NULL pointer", (unsigned)n);
    ASSERT(r->length + n <= sizeof(r->data), "message too large for the test");
    if (n > 0) {
        memcpy(r->data + r->length, buffer->Data.pbBuffer, n);
    }
    r->length += n;
    if ((int)n > r->maxChunk) {
        r->maxChunk = (int)n;
    }
    if (type == WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE || type == WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE) {
        r->fragmentChunks++;
    } else {
        r->completed = 1;
    }
    if (type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE && r->length < 200) {
        printf("  [%s] received %s: \"%.*s\"\n", ep->name, TypeName(type), (int)r->length, (const char *)r->data);
    } else {
        printf("  [%s] received %s chunk of %u bytes\n", ep->name, TypeName(type), (unsigned)n);
    }
}

/* Pump every action of the handle until NO_ACTION, or until a network read
 * has to wait for bytes that are not there yet. */
static void RunLoop(Endpoint *ep)
{
    if (ep->readPending) {
        if (TransportAvailable(ep->in) == 0) {
            return;
        }
        ULONG n = TransportRead(ep->in, ep->readBuffer, ep->readLength);
        printf("  [%s] finished a waiting read: %u bytes\n", ep->name, (unsigned)n);
        ep->readPending = 0;
        WebSocketCompleteAction(ep->handle, ep->readActionContext, n);
    }

    WEB_SOCKET_ACTION action;
    do {
        WEB_SOCKET_BUFFER buffers[2];
        ULONG bufferCount = ARRAYSIZE(buffers);
        WEB_SOCKET_BUFFER_TYPE bufferType;
        PVOID applicationContext = NULL;
        PVOID actionContext = NULL;
        ULONG bytesTransferred = 0;

        memset(buffers, 0, sizeof(buffers));
        HRESULT hr = WebSocketGetAction(ep->handle, WEB_SOCKET_ALL_ACTION_QUEUE, buffers, &bufferCount, &action,
                                        &bufferType, &applicationContext, &actionContext);
        ASSERT(SUCCEEDED(hr), "[%s] WebSocketGetAction failed: 0x%08x", ep->name, (unsigned)hr);
        ASSERT(bufferCount <= ARRAYSIZE(buffers), "too many buffers: %u", (unsigned)bufferCount);

        switch (action) {
        case WEB_SOCKET_NO_ACTION:
            break;

        case WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION:
            ASSERT(bufferCount >= 1, "RECEIVE_FROM_NETWORK without a buffer");
            ASSERT(buffers[0].Data.pbBuffer != NULL && buffers[0].Data.ulBufferLength > 0,
                   "RECEIVE_FROM_NETWORK with an empty buffer");
            if (TransportAvailable(ep->in) == 0) {
                /* Nothing to read now: keep the action outstanding. */
                ep->readPending = 1;
                ep->readActionContext = actionContext;
                ep->readBuffer = buffers[0].Data.pbBuffer;
                ep->readLength = buffers[0].Data.ulBufferLength;
                printf("  [%s] RECEIVE_FROM_NETWORK: waiting for bytes (up to %u)\n", ep->name,
                       (unsigned)ep->readLength);
                return;
            }
            bytesTransferred = TransportRead(ep->in, buffers[0].Data.pbBuffer, buffers[0].Data.ulBufferLength);
            printf("  [%s] RECEIVE_FROM_NETWORK: read %u bytes\n", ep->name, (unsigned)bytesTransferred);
            break;

        case WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION:
            /* As the Windows sample asserts: exactly one buffer. */
            ASSERT(bufferCount == 1, "[%s] INDICATE_RECEIVE_COMPLETE with %u buffers", ep->name,
                   (unsigned)bufferCount);
            OnReceiveComplete(ep, &buffers[0], bufferType);
            break;

        case WEB_SOCKET_SEND_TO_NETWORK_ACTION:
            ASSERT(bufferCount >= 1, "SEND_TO_NETWORK without buffers");
            for (ULONG i = 0; i < bufferCount; i++) {
                TransportWrite(ep->out, buffers[i].Data.pbBuffer, buffers[i].Data.ulBufferLength);
                bytesTransferred += buffers[i].Data.ulBufferLength;
            }
            ep->bytesSent += (int)bytesTransferred;
            if (applicationContext == NULL) {
                ep->autoSends++;
            }
            printf("  [%s] SEND_TO_NETWORK: %u buffer(s), %u bytes%s\n", ep->name, (unsigned)bufferCount,
                   (unsigned)bytesTransferred, applicationContext == NULL ? " (generated by the handle)" : "");
            break;

        case WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION:
            ep->sendsCompleted++;
            printf("  [%s] INDICATE_SEND_COMPLETE (%s)\n", ep->name, TypeName(bufferType));
            break;

        default:
            ASSERT(0, "[%s] unknown action %d", ep->name, (int)action);
        }

        /* The classic sample completes every action, NO_ACTION included. */
        WebSocketCompleteAction(ep->handle, actionContext, bytesTransferred);
    } while (action != WEB_SOCKET_NO_ACTION);
}

/* Context pointers echoed back by GetAction for our own operations. */
static int sendTag;
#define SEND_CONTEXT ((PVOID)&sendTag)

static void Send(Endpoint *ep, WEB_SOCKET_BUFFER_TYPE type, const void *data, ULONG length)
{
    WEB_SOCKET_BUFFER buffer;
    memset(&buffer, 0, sizeof(buffer));
    buffer.Data.pbBuffer = (PBYTE)data;
    buffer.Data.ulBufferLength = length;
    ASSERT_HR(WebSocketSend(ep->handle, type, &buffer, SEND_CONTEXT));
}

static void SendClose(Endpoint *ep, USHORT status, const char *reason)
{
    WEB_SOCKET_BUFFER buffer;
    memset(&buffer, 0, sizeof(buffer));
    buffer.CloseStatus.usStatus = status;
    buffer.CloseStatus.ulReasonLength = (ULONG)strlen(reason);
    buffer.CloseStatus.pbReason = buffer.CloseStatus.ulReasonLength ? (PBYTE)reason : NULL;
    ASSERT_HR(WebSocketSend(ep->handle, WEB_SOCKET_CLOSE_BUFFER_TYPE, &buffer, SEND_CONTEXT));
}

/* ------------------------------------------------------------------ */

static int HeaderIs(const WEB_SOCKET_HTTP_HEADER *h, const char *name)
{
    size_t n = strlen(name);
    if (h->ulNameLength != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char a = h->pcName[i], b = name[i];
        if (a >= 'A' && a <= 'Z') {
            a = (char)(a - 'A' + 'a');
        }
        if (b >= 'A' && b <= 'Z') {
            b = (char)(b - 'A' + 'a');
        }
        if (a != b) {
            return 0;
        }
    }
    return 1;
}

static const WEB_SOCKET_HTTP_HEADER *FindHeader(const WEB_SOCKET_HTTP_HEADER *headers, ULONG count,
                                                const char *name)
{
    for (ULONG i = 0; i < count; i++) {
        if (HeaderIs(&headers[i], name)) {
            return &headers[i];
        }
    }
    return NULL;
}

static void DumpHeaders(const char *title, const WEB_SOCKET_HTTP_HEADER *headers, ULONG count)
{
    printf("  %s (%u):\n", title, (unsigned)count);
    for (ULONG i = 0; i < count; i++) {
        printf("    %.*s: %.*s\n", (int)headers[i].ulNameLength, headers[i].pcName, (int)headers[i].ulValueLength,
               headers[i].pcValue);
    }
}

/* Create both handles and connect them by exchanging header arrays only. */
static void Connect(Endpoint *client, Endpoint *server, Transport *c2s, Transport *s2c)
{
    memset(client, 0, sizeof(*client));
    memset(server, 0, sizeof(*server));
    client->name = "client";
    server->name = "server";
    client->out = c2s;
    client->in = s2c;
    server->out = s2c;
    server->in = c2s;

    ASSERT_HR(WebSocketCreateClientHandle(NULL, 0, &client->handle));
    ASSERT_HR(WebSocketCreateServerHandle(NULL, 0, &server->handle));
    ASSERT(client->handle != NULL && server->handle != NULL, "NULL handle");

    PWEB_SOCKET_HTTP_HEADER clientHeaders = NULL;
    ULONG clientHeaderCount = 0;
    ASSERT_HR(WebSocketBeginClientHandshake(client->handle, NULL, 0, NULL, 0, NULL, 0, &clientHeaders,
                                            &clientHeaderCount));
    DumpHeaders("client request headers", clientHeaders, clientHeaderCount);
    ASSERT(clientHeaderCount >= 4, "client produced %u headers", (unsigned)clientHeaderCount);
    ASSERT(FindHeader(clientHeaders, clientHeaderCount, "Sec-WebSocket-Key") != NULL, "no key header");
    const WEB_SOCKET_HTTP_HEADER *version = FindHeader(clientHeaders, clientHeaderCount, "Sec-WebSocket-Version");
    ASSERT(version != NULL && version->ulValueLength == 2 && memcmp(version->pcValue, "13", 2) == 0,
           "version header missing or not 13");
    ASSERT(FindHeader(clientHeaders, clientHeaderCount, "Upgrade") != NULL, "no Upgrade header");
    ASSERT(FindHeader(clientHeaders, clientHeaderCount, "Connection") != NULL, "no Connection header");

    /* The "request" the server sees: the client's headers plus Host. */
    WEB_SOCKET_HTTP_HEADER request[16];
    static char hostName[] = "Host";
    static char hostValue[] = "localhost";
    ULONG requestCount = 0;
    ASSERT(clientHeaderCount < ARRAYSIZE(request), "too many headers");
    for (ULONG i = 0; i < clientHeaderCount; i++) {
        request[requestCount++] = clientHeaders[i];
    }
    request[requestCount].pcName = hostName;
    request[requestCount].ulNameLength = (ULONG)strlen(hostName);
    request[requestCount].pcValue = hostValue;
    request[requestCount].ulValueLength = (ULONG)strlen(hostValue);
    requestCount++;

    PWEB_SOCKET_HTTP_HEADER serverHeaders = NULL;
    ULONG serverHeaderCount = 0;
    ASSERT_HR(WebSocketBeginServerHandshake(server->handle, NULL, NULL, 0, request, requestCount, &serverHeaders,
                                            &serverHeaderCount));
    DumpHeaders("server response headers", serverHeaders, serverHeaderCount);
    ASSERT(FindHeader(serverHeaders, serverHeaderCount, "Sec-WebSocket-Accept") != NULL, "no accept header");

    /* As in the Windows sample: the server's output goes straight to the
     * client, before the server's handshake is ended. */
    ASSERT_HR(WebSocketEndClientHandshake(client->handle, serverHeaders, serverHeaderCount, NULL, NULL, NULL));
    ASSERT_HR(WebSocketEndServerHandshake(server->handle));
    printf("  handshake complete\n");
}

static void Disconnect(Endpoint *client, Endpoint *server)
{
    WebSocketDeleteHandle(client->handle);
    WebSocketDeleteHandle(server->handle);
    client->handle = server->handle = NULL;
}

static void Receive(Endpoint *ep)
{
    ASSERT_HR(WebSocketReceive(ep->handle, NULL, NULL));
}

/* ------------------------------------------------------------------ */

static void HelloWorld(Endpoint *client, Endpoint *server)
{
    printf("== Hello World, client to server and back\n");
    static const char hello[] = "Hello World";
    Send(client, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, hello, (ULONG)strlen(hello));
    RunLoop(client);
    ASSERT(client->sendsCompleted == 1, "client send not completed");
    /* A masked 11-byte text frame: 2 header bytes + 4 mask bytes + 11. */
    ASSERT(client->bytesSent == 17, "client wrote %d bytes, expected 17", client->bytesSent);

    ResetReceived(server);
    Receive(server);
    RunLoop(server);
    ASSERT(server->received.completed, "server got nothing");
    ASSERT(server->received.type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, "type %s",
           TypeName(server->received.type));
    ASSERT(server->received.length == 11 && memcmp(server->received.data, hello, 11) == 0,
           "server received the wrong bytes");
    ASSERT(!server->readPending, "server still reading");

    static const char reply[] = "Hello back from the server";
    Send(server, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, reply, (ULONG)strlen(reply));
    RunLoop(server);
    ASSERT(server->sendsCompleted == 1, "server send not completed");

    ResetReceived(client);
    Receive(client);
    RunLoop(client);
    ASSERT(client->received.completed && client->received.type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE,
           "client did not get the reply");
    ASSERT(client->received.length == strlen(reply) && memcmp(client->received.data, reply, strlen(reply)) == 0,
           "client received the wrong bytes");
}

static void LargeMessage(Endpoint *client, Endpoint *server)
{
    /* Five and a half times the default 4096-byte receive buffer. */
    enum { LARGE = 4096 * 5 + 2048 };
    static BYTE payload[LARGE];
    for (size_t i = 0; i < LARGE; i++) {
        payload[i] = (BYTE)((i * 131u + 7u) ^ (i >> 8));
    }

    printf("== %d-byte binary message, client to server\n", LARGE);
    int before = client->sendsCompleted;
    Send(client, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, payload, LARGE);
    RunLoop(client);
    ASSERT(client->sendsCompleted == before + 1, "large send not completed");

    ResetReceived(server);
    int receives = 0;
    while (!server->received.completed) {
        ASSERT(++receives < 1000, "message never completed");
        Receive(server);
        RunLoop(server);
        ASSERT(server->received.type == WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE ||
                   server->received.type == WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE,
               "unexpected chunk type %s", TypeName(server->received.type));
    }
    printf("  server got the message in %d chunks (%d FRAGMENT), largest %d bytes\n", server->received.chunks,
           server->received.fragmentChunks, server->received.maxChunk);
    ASSERT(server->received.length == LARGE, "received %zu of %d bytes", server->received.length, LARGE);
    ASSERT(memcmp(server->received.data, payload, LARGE) == 0, "large message corrupted");
    ASSERT(server->received.fragmentChunks >= 5, "only %d FRAGMENT chunks", server->received.fragmentChunks);
    ASSERT(server->received.chunks == server->received.fragmentChunks + 1, "exactly one MESSAGE chunk ends it");
    ASSERT(server->received.maxChunk <= 4096, "a chunk of %d bytes exceeds the receive buffer",
           server->received.maxChunk);

    /* And a large text message the other way, with multi-byte UTF-8. */
    printf("== large UTF-8 text message, server to client\n");
    static char text[3 * 4096 + 100];
    size_t len = 0;
    while (len + 3 < sizeof(text)) {
        /* U+20AC EURO SIGN, three bytes, then an ASCII letter. */
        text[len++] = (char)0xE2;
        text[len++] = (char)0x82;
        text[len++] = (char)0xAC;
        if (len + 1 < sizeof(text)) {
            text[len] = (char)('a' + (len % 26));
            len++;
        }
    }
    before = server->sendsCompleted;
    Send(server, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, text, (ULONG)len);
    RunLoop(server);
    ASSERT(server->sendsCompleted == before + 1, "text send not completed");
    ResetReceived(client);
    receives = 0;
    while (!client->received.completed) {
        ASSERT(++receives < 1000, "text message never completed");
        Receive(client);
        RunLoop(client);
        ASSERT(client->received.type == WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE ||
                   client->received.type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE,
               "unexpected chunk type %s", TypeName(client->received.type));
    }
    ASSERT(client->received.length == len && memcmp(client->received.data, text, len) == 0,
           "text message corrupted");
    ASSERT(client->received.fragmentChunks >= 2, "text arrived in %d FRAGMENT chunks",
           client->received.fragmentChunks);
}

static void PingPong(Endpoint *client, Endpoint *server)
{
    printf("== ping from the client, pong from the server\n");
    int before = client->sendsCompleted;
    ASSERT_HR(WebSocketSend(client->handle, WEB_SOCKET_PING_PONG_BUFFER_TYPE, NULL, SEND_CONTEXT));
    RunLoop(client);
    ASSERT(client->sendsCompleted == before + 1, "ping send not completed");

    /* The server answers the ping by itself, on its receive queue, and the
     * receive stays pending (a ping is not shown to the application). */
    ResetReceived(server);
    int autoBefore = server->autoSends;
    Receive(server);
    RunLoop(server);
    ASSERT(server->autoSends == autoBefore + 1, "server did not send a pong");
    ASSERT(!server->received.completed, "a ping completed the receive");
    ASSERT(server->readPending, "server receive should wait for more bytes");

    ResetReceived(client);
    Receive(client);
    RunLoop(client);
    ASSERT(client->received.completed && client->received.type == WEB_SOCKET_PING_PONG_BUFFER_TYPE,
           "client did not see the pong (type %s)", TypeName(client->received.type));
}

/* Close started by the client; the server's receive is still outstanding. */
static void ClientCloses(Endpoint *client, Endpoint *server)
{
    printf("== close started by the client\n");
    SendClose(client, WEB_SOCKET_SUCCESS_CLOSE_STATUS, "client is done");
    RunLoop(client);

    /* A data send after our close must be refused. */
    static const char late[] = "late";
    WEB_SOCKET_BUFFER buffer;
    memset(&buffer, 0, sizeof(buffer));
    buffer.Data.pbBuffer = (PBYTE)late;
    buffer.Data.ulBufferLength = 4;
    HRESULT hr = WebSocketSend(client->handle, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, &buffer, NULL);
    ASSERT(hr == E_INVALID_PROTOCOL_OPERATION, "data send after close returned 0x%08x", (unsigned)hr);

    RunLoop(server); /* resumes the waiting read */
    ASSERT(server->received.completed && server->received.type == WEB_SOCKET_CLOSE_BUFFER_TYPE,
           "server did not see the close");
    ASSERT(server->received.closeStatus == 1000, "status %u", (unsigned)server->received.closeStatus);
    ASSERT(strcmp(server->received.closeReason, "client is done") == 0, "reason \"%s\"",
           server->received.closeReason);

    SendClose(server, WEB_SOCKET_SUCCESS_CLOSE_STATUS, "server agrees");
    RunLoop(server);

    ResetReceived(client);
    Receive(client);
    RunLoop(client);
    ASSERT(client->received.completed && client->received.type == WEB_SOCKET_CLOSE_BUFFER_TYPE,
           "client did not see the close reply");
    ASSERT(client->received.closeStatus == 1000, "status %u", (unsigned)client->received.closeStatus);
    ASSERT(strcmp(client->received.closeReason, "server agrees") == 0, "reason \"%s\"",
           client->received.closeReason);
}

/* Unsolicited pong, then a close started by the server. */
static void ServerCloses(Endpoint *client, Endpoint *server)
{
    printf("== unsolicited pong from the client\n");
    ASSERT_HR(WebSocketSend(client->handle, WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE, NULL, SEND_CONTEXT));
    RunLoop(client);
    ResetReceived(server);
    Receive(server);
    RunLoop(server);
    ASSERT(server->received.completed && server->received.type == WEB_SOCKET_PING_PONG_BUFFER_TYPE,
           "an unsolicited pong should arrive as PING_PONG, got %s", TypeName(server->received.type));

    printf("== close started by the server\n");
    SendClose(server, WEB_SOCKET_ENDPOINT_UNAVAILABLE_CLOSE_STATUS, "server going away");
    RunLoop(server);

    ResetReceived(client);
    Receive(client);
    RunLoop(client);
    ASSERT(client->received.completed && client->received.type == WEB_SOCKET_CLOSE_BUFFER_TYPE,
           "client did not see the close");
    ASSERT(client->received.closeStatus == 1001, "status %u", (unsigned)client->received.closeStatus);
    ASSERT(strcmp(client->received.closeReason, "server going away") == 0, "reason \"%s\"",
           client->received.closeReason);

    SendClose(client, WEB_SOCKET_ENDPOINT_UNAVAILABLE_CLOSE_STATUS, "");
    RunLoop(client);

    ResetReceived(server);
    Receive(server);
    RunLoop(server);
    ASSERT(server->received.completed && server->received.type == WEB_SOCKET_CLOSE_BUFFER_TYPE,
           "server did not see the close reply");
    ASSERT(server->received.closeStatus == 1001, "status %u", (unsigned)server->received.closeStatus);
    ASSERT(server->received.closeReason[0] == '\0', "reason \"%s\"", server->received.closeReason);
}

/* Abort with a send and a receive outstanding, then drain as .NET does. */
static void AbortAndDrain(Endpoint *client)
{
    printf("== abort with a send and a receive outstanding, then drain\n");
    static const char data[] = "never sent";
    Send(client, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, data, (ULONG)strlen(data));
    Receive(client);

    WebSocketAbortHandle(client->handle);
    WebSocketAbortHandle(client->handle); /* harmless the second time */

    WEB_SOCKET_BUFFER buffer;
    memset(&buffer, 0, sizeof(buffer));
    buffer.Data.pbBuffer = (PBYTE)data;
    buffer.Data.ulBufferLength = 1;
    HRESULT hr = WebSocketSend(client->handle, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, &buffer, NULL);
    ASSERT(FAILED(hr), "send after abort succeeded");
    hr = WebSocketReceive(client->handle, NULL, NULL);
    ASSERT(FAILED(hr), "receive after abort succeeded");

    const WEB_SOCKET_ACTION_QUEUE queues[2] = {WEB_SOCKET_SEND_ACTION_QUEUE, WEB_SOCKET_RECEIVE_ACTION_QUEUE};
    int sendCompletes = 0, receiveCompletes = 0;
    for (int q = 0; q < 2; q++) {
        for (int guard = 0;; guard++) {
            ASSERT(guard < 100, "drain never ends");
            WEB_SOCKET_BUFFER buffers[1];
            ULONG count = 1;
            WEB_SOCKET_ACTION action;
            WEB_SOCKET_BUFFER_TYPE type;
            PVOID appContext = NULL, actionContext = NULL;
            hr = WebSocketGetAction(client->handle, queues[q], buffers, &count, &action, &type, &appContext,
                                    &actionContext);
            if (FAILED(hr) || action == WEB_SOCKET_NO_ACTION) {
                break;
            }
            printf("  [client] drained %s\n", ActionName(action));
            ASSERT(action == WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION ||
                       action == WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION,
                   "network action %s after abort", ActionName(action));
            if (action == WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION) {
                sendCompletes++;
                ASSERT(appContext == SEND_CONTEXT, "wrong application context");
            } else {
                receiveCompletes++;
            }
            WebSocketCompleteAction(client->handle, actionContext, 0);
        }
    }
    ASSERT(sendCompletes == 1, "%d send completions drained", sendCompletes);
    ASSERT(receiveCompletes == 1, "%d receive completions drained", receiveCompletes);
}

int main(void)
{
    Transport c2s, s2c;
    Endpoint client, server;
    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));

    printf("== session 1\n");
    Connect(&client, &server, &c2s, &s2c);
    HelloWorld(&client, &server);
    LargeMessage(&client, &server);
    PingPong(&client, &server);
    ClientCloses(&client, &server);
    Disconnect(&client, &server);
    TransportFree(&c2s);
    TransportFree(&s2c);

    printf("== session 2\n");
    Connect(&client, &server, &c2s, &s2c);
    ServerCloses(&client, &server);
    Disconnect(&client, &server);
    TransportFree(&c2s);
    TransportFree(&s2c);

    printf("== session 3\n");
    Connect(&client, &server, &c2s, &s2c);
    AbortAndDrain(&client);
    WebSocketAbortHandle(server.handle);
    Disconnect(&client, &server);
    TransportFree(&c2s);
    TransportFree(&s2c);

    printf("sample: all steps passed\n");
    return 0;
}
