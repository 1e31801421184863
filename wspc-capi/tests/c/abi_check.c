/*
 * abi_check.c -- the header's layouts and values against the reference
 * (spec section 3: x86-64 numbers; the 32-bit numbers in brackets too).
 *
 * Needs only the header: it never calls the library, so it can be built
 * and run without libwspc. It is compiled both as C (C99 and later) and as
 * C++ with -Wall -Wextra -Werror.
 *
 * The function prototypes are checked at compile time: each one is
 * declared again below exactly as the reference gives it, and a compiler
 * rejects a redeclaration that does not match.
 */
#include <websocket.h>

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static int failures = 0;
static int checks = 0;

#define CHECK_EQ(what, actual, expected)                                                  \
    do {                                                                                  \
        long long a_ = (long long)(actual);                                               \
        long long e_ = (long long)(expected);                                             \
        checks++;                                                                         \
        if (a_ != e_) {                                                                   \
            failures++;                                                                   \
            fprintf(stderr, "abi_check: FAIL %s: got %lld (0x%llx), expected %lld (0x%llx)\n", \
                    what, a_, (unsigned long long)a_, e_, (unsigned long long)e_);        \
        }                                                                                 \
    } while (0)

#define SIZE(T, n64, n32) CHECK_EQ("sizeof(" #T ")", sizeof(T), sizeof(void *) == 8 ? (n64) : (n32))
#define OFF(T, m, n64, n32) \
    CHECK_EQ("offsetof(" #T ", " #m ")", offsetof(T, m), sizeof(void *) == 8 ? (n64) : (n32))
#define VAL(name, v) CHECK_EQ(#name, name, v)
/* HRESULTs are compared as 32-bit patterns. */
#define HR(name, v) CHECK_EQ(#name, (unsigned long long)(uint32_t)(name), (unsigned long long)(v))

#if defined(__GNUC__) || defined(__clang__)
#define ALIGN(T, n64, n32) \
    CHECK_EQ("alignof(" #T ")", __alignof__(T), sizeof(void *) == 8 ? (n64) : (n32))
#else
#define ALIGN(T, n64, n32) ((void)0)
#endif

/* Compile-time prototype check: these must agree with the header. */
#ifdef __cplusplus
extern "C" {
#endif
HRESULT WINAPI WebSocketCreateClientHandle(const PWEB_SOCKET_PROPERTY pProperties, ULONG ulPropertyCount,
                                           WEB_SOCKET_HANDLE *phWebSocket);
HRESULT WINAPI WebSocketBeginClientHandshake(WEB_SOCKET_HANDLE hWebSocket, PCSTR *pszSubprotocols,
                                             ULONG ulSubprotocolCount, PCSTR *pszExtensions,
                                             ULONG ulExtensionCount,
                                             const PWEB_SOCKET_HTTP_HEADER pInitialHeaders,
                                             ULONG ulInitialHeaderCount,
                                             PWEB_SOCKET_HTTP_HEADER *pAdditionalHeaders,
                                             ULONG *pulAdditionalHeaderCount);
HRESULT WINAPI WebSocketEndClientHandshake(WEB_SOCKET_HANDLE hWebSocket,
                                           const PWEB_SOCKET_HTTP_HEADER pResponseHeaders,
                                           ULONG ulReponseHeaderCount, ULONG *pulSelectedExtensions,
                                           ULONG *pulSelectedExtensionCount, ULONG *pulSelectedSubprotocol);
HRESULT WINAPI WebSocketCreateServerHandle(const PWEB_SOCKET_PROPERTY pProperties, ULONG ulPropertyCount,
                                           WEB_SOCKET_HANDLE *phWebSocket);
HRESULT WINAPI WebSocketBeginServerHandshake(WEB_SOCKET_HANDLE hWebSocket, PCSTR pszSubprotocolSelected,
                                             PCSTR *pszExtensionSelected, ULONG ulExtensionSelectedCount,
                                             const PWEB_SOCKET_HTTP_HEADER pRequestHeaders,
                                             ULONG ulRequestHeaderCount,
                                             PWEB_SOCKET_HTTP_HEADER *pResponseHeaders,
                                             ULONG *pulResponseHeaderCount);
HRESULT WINAPI WebSocketEndServerHandshake(WEB_SOCKET_HANDLE hWebSocket);
HRESULT WINAPI WebSocketSend(WEB_SOCKET_HANDLE hWebSocket, WEB_SOCKET_BUFFER_TYPE BufferType,
                             WEB_SOCKET_BUFFER *pBuffer, PVOID Context);
HRESULT WINAPI WebSocketReceive(WEB_SOCKET_HANDLE hWebSocket, WEB_SOCKET_BUFFER *pBuffer, PVOID pvContext);
HRESULT WINAPI WebSocketGetAction(WEB_SOCKET_HANDLE hWebSocket, WEB_SOCKET_ACTION_QUEUE eActionQueue,
                                  WEB_SOCKET_BUFFER *pDataBuffers, ULONG *pulDataBufferCount,
                                  WEB_SOCKET_ACTION *pAction, WEB_SOCKET_BUFFER_TYPE *pBufferType,
                                  PVOID *pvApplicationContext, PVOID *pvActionContext);
VOID WINAPI WebSocketCompleteAction(WEB_SOCKET_HANDLE hWebSocket, PVOID pvActionContext,
                                    ULONG ulBytesTransferred);
VOID WINAPI WebSocketAbortHandle(WEB_SOCKET_HANDLE hWebSocket);
VOID WINAPI WebSocketDeleteHandle(WEB_SOCKET_HANDLE hWebSocket);
HRESULT WINAPI WebSocketGetGlobalProperty(WEB_SOCKET_PROPERTY_TYPE eType, PVOID pvValue, ULONG *ulSize);
#ifdef __cplusplus
}
#endif

/* Compile-time: WEB_SOCKET_MAX_CLOSE_REASON_LENGTH is a preprocessor constant. */
#if WEB_SOCKET_MAX_CLOSE_REASON_LENGTH != 123
#error "WEB_SOCKET_MAX_CLOSE_REASON_LENGTH must be 123"
#endif
#ifndef __WEBSOCKET_H__
#error "include guard __WEBSOCKET_H__ missing"
#endif

int main(void)
{
    /* --- base types (spec 3.1) --- */
    SIZE(HRESULT, 4, 4);
    SIZE(ULONG, 4, 4);
    SIZE(USHORT, 2, 2);
    SIZE(BYTE, 1, 1);
    SIZE(CHAR, 1, 1);
    SIZE(BOOL, 4, 4);
    SIZE(PVOID, 8, 4);
    SIZE(PBYTE, 8, 4);
    SIZE(PCHAR, 8, 4);
    SIZE(PCSTR, 8, 4);
    SIZE(WEB_SOCKET_HANDLE, 8, 4);
    CHECK_EQ("HRESULT is signed", (HRESULT)-1 < 0, 1);
    CHECK_EQ("ULONG is unsigned", (ULONG)-1 > 0, 1);
    CHECK_EQ("ULONG max", (ULONG)-1, 0xFFFFFFFFLL);
    CHECK_EQ("SUCCEEDED(S_OK)", SUCCEEDED(S_OK), 1);
    CHECK_EQ("SUCCEEDED(1)", SUCCEEDED(1), 1);
    CHECK_EQ("FAILED(S_OK)", FAILED(S_OK), 0);
    CHECK_EQ("FAILED(E_FAIL)", FAILED(E_FAIL), 1);
    CHECK_EQ("FAILED(E_INVALID_PROTOCOL_FORMAT)", FAILED(E_INVALID_PROTOCOL_FORMAT), 1);
    CHECK_EQ("SUCCEEDED(E_INVALIDARG)", SUCCEEDED(E_INVALIDARG), 0);

    /* --- enums are 4 bytes (spec 3.4) --- */
    SIZE(WEB_SOCKET_CLOSE_STATUS, 4, 4);
    SIZE(WEB_SOCKET_PROPERTY_TYPE, 4, 4);
    SIZE(WEB_SOCKET_ACTION_QUEUE, 4, 4);
    SIZE(WEB_SOCKET_BUFFER_TYPE, 4, 4);
    SIZE(WEB_SOCKET_ACTION, 4, 4);
    SIZE(PWEB_SOCKET_ACTION, 8, 4);

    /* --- constants (spec 3.3, 3.4) --- */
    VAL(WEB_SOCKET_MAX_CLOSE_REASON_LENGTH, 123);

    VAL(WEB_SOCKET_SUCCESS_CLOSE_STATUS, 1000);
    VAL(WEB_SOCKET_ENDPOINT_UNAVAILABLE_CLOSE_STATUS, 1001);
    VAL(WEB_SOCKET_PROTOCOL_ERROR_CLOSE_STATUS, 1002);
    VAL(WEB_SOCKET_INVALID_DATA_TYPE_CLOSE_STATUS, 1003);
    VAL(WEB_SOCKET_EMPTY_CLOSE_STATUS, 1005);
    VAL(WEB_SOCKET_ABORTED_CLOSE_STATUS, 1006);
    VAL(WEB_SOCKET_INVALID_PAYLOAD_CLOSE_STATUS, 1007);
    VAL(WEB_SOCKET_POLICY_VIOLATION_CLOSE_STATUS, 1008);
    VAL(WEB_SOCKET_MESSAGE_TOO_BIG_CLOSE_STATUS, 1009);
    VAL(WEB_SOCKET_UNSUPPORTED_EXTENSIONS_CLOSE_STATUS, 1010);
    VAL(WEB_SOCKET_SERVER_ERROR_CLOSE_STATUS, 1011);
    VAL(WEB_SOCKET_SECURE_HANDSHAKE_ERROR_CLOSE_STATUS, 1015);

    VAL(WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE, 0);
    VAL(WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE, 1);
    VAL(WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE, 2);
    VAL(WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE, 3);
    VAL(WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE, 4);
    VAL(WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE, 5);
    VAL(WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE, 6);

    VAL(WEB_SOCKET_SEND_ACTION_QUEUE, 0x1);
    VAL(WEB_SOCKET_RECEIVE_ACTION_QUEUE, 0x2);
    VAL(WEB_SOCKET_ALL_ACTION_QUEUE, 0x3);

    VAL(WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, 0x80000000LL);
    VAL(WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE, 0x80000001LL);
    VAL(WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE, 0x80000002LL);
    VAL(WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE, 0x80000003LL);
    VAL(WEB_SOCKET_CLOSE_BUFFER_TYPE, 0x80000004LL);
    VAL(WEB_SOCKET_PING_PONG_BUFFER_TYPE, 0x80000005LL);
    VAL(WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE, 0x80000006LL);

    VAL(WEB_SOCKET_NO_ACTION, 0);
    VAL(WEB_SOCKET_SEND_TO_NETWORK_ACTION, 1);
    VAL(WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION, 2);
    VAL(WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION, 3);
    VAL(WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION, 4);

    /* A buffer type stored in the enum keeps its 32-bit pattern. */
    {
        WEB_SOCKET_BUFFER_TYPE t = WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE;
        CHECK_EQ("(ULONG)WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE", (ULONG)t, 0x80000006LL);
    }

    /* --- HRESULTs (spec 3.6) --- */
    HR(S_OK, 0x00000000u);
    HR(E_INVALID_PROTOCOL_OPERATION, 0x83760001u);
    HR(E_INVALID_PROTOCOL_FORMAT, 0x83760002u);
    HR(E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED, 0x83760003u);
    HR(E_SUBPROTOCOL_NOT_SUPPORTED, 0x83760004u);
    HR(E_PROTOCOL_VERSION_NOT_SUPPORTED, 0x83760005u);
    HR(E_INVALIDARG, 0x80070057u);
    HR(E_OUTOFMEMORY, 0x8007000Eu);
    HR(E_FAIL, 0x80004005u);
    HR(HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER), 0x8007007Au);

    /* --- structures (spec 3.5) --- */
    SIZE(WEB_SOCKET_PROPERTY, 24, 12);
    ALIGN(WEB_SOCKET_PROPERTY, 8, 4);
    OFF(WEB_SOCKET_PROPERTY, Type, 0, 0);
    OFF(WEB_SOCKET_PROPERTY, pvValue, 8, 4);
    OFF(WEB_SOCKET_PROPERTY, ulValueSize, 16, 8);
    SIZE(PWEB_SOCKET_PROPERTY, 8, 4);

    SIZE(WEB_SOCKET_HTTP_HEADER, 32, 16);
    ALIGN(WEB_SOCKET_HTTP_HEADER, 8, 4);
    OFF(WEB_SOCKET_HTTP_HEADER, pcName, 0, 0);
    OFF(WEB_SOCKET_HTTP_HEADER, ulNameLength, 8, 4);
    OFF(WEB_SOCKET_HTTP_HEADER, pcValue, 16, 8);
    OFF(WEB_SOCKET_HTTP_HEADER, ulValueLength, 24, 12);
    SIZE(PWEB_SOCKET_HTTP_HEADER, 8, 4);

    SIZE(WEB_SOCKET_BUFFER, 16, 12);
    ALIGN(WEB_SOCKET_BUFFER, 8, 4);
    OFF(WEB_SOCKET_BUFFER, Data, 0, 0);
    OFF(WEB_SOCKET_BUFFER, Data.pbBuffer, 0, 0);
    OFF(WEB_SOCKET_BUFFER, Data.ulBufferLength, 8, 4);
    OFF(WEB_SOCKET_BUFFER, CloseStatus, 0, 0);
    OFF(WEB_SOCKET_BUFFER, CloseStatus.pbReason, 0, 0);
    OFF(WEB_SOCKET_BUFFER, CloseStatus.ulReasonLength, 8, 4);
    OFF(WEB_SOCKET_BUFFER, CloseStatus.usStatus, 12, 8);
    SIZE(PWEB_SOCKET_BUFFER, 8, 4);
    {
        WEB_SOCKET_BUFFER b;
        SIZE(b.Data, 16, 8);
        SIZE(b.CloseStatus, 16, 12);
        SIZE(b.CloseStatus.usStatus, 2, 2);
        SIZE(b.Data.ulBufferLength, 4, 4);
        /* The union really overlays: pointer and length alias in both arms. */
        b.Data.pbBuffer = (PBYTE)&b;
        b.Data.ulBufferLength = 77;
        CHECK_EQ("Data.pbBuffer aliases CloseStatus.pbReason", b.CloseStatus.pbReason == (PBYTE)&b, 1);
        CHECK_EQ("Data.ulBufferLength aliases CloseStatus.ulReasonLength", b.CloseStatus.ulReasonLength, 77);
    }

    if (failures != 0) {
        fprintf(stderr, "abi_check: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("abi_check (%s): all %d checks passed\n",
#ifdef __cplusplus
           "C++",
#else
           "C",
#endif
           checks);
    return 0;
}
