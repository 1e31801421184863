/*
 * websocket.h -- WebSocket Protocol Component API for non-Windows systems.
 *
 * Part of wspc (libwspc). This header declares the same names, values,
 * structure layouts and prototypes as the Windows SDK header of the same
 * name, so that code written against websocket.dll builds unchanged and
 * runs against libwspc. It was written for wspc; it is not a copy of the
 * SDK header.
 *
 * Build:   cc app.c $(pkg-config --cflags --libs wspc)
 *
 * Memory rules, in short (see README.md of wspc-capi for the full text):
 *   - Header arrays returned by the Begin*Handshake functions belong to the
 *     handle and stay valid until the handshake completes (End*Handshake,
 *     or the first session call on a server handle). Never free them.
 *   - Pointers written by WebSocketGetAction into the caller's
 *     WEB_SOCKET_BUFFER array stay valid until the matching
 *     WebSocketCompleteAction. They point into the handle's own memory, into
 *     the caller-supplied WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE region,
 *     or back into the caller's own send payload.
 *   - A payload passed to WebSocketSend must stay untouched until its
 *     WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION has been returned.
 *   - Every action context obtained from WebSocketGetAction must be passed
 *     to WebSocketCompleteAction exactly once. Completing NULL or the context
 *     of a WEB_SOCKET_NO_ACTION is harmless.
 */

#ifndef __WEBSOCKET_H__
#define __WEBSOCKET_H__

#ifdef _MSC_VER
#pragma once
#endif

#ifdef _WIN32
#include <windows.h>
#else /* !_WIN32: supply the Windows base types this header relies on */

#include <stddef.h>
#include <stdint.h>

/* Sizes follow Windows (LLP64), not the host's long: ULONG is 32 bits. */
typedef int32_t HRESULT;
typedef uint32_t ULONG;
typedef ULONG *PULONG;
typedef uint16_t USHORT;
typedef uint8_t BYTE;
typedef BYTE *PBYTE;
typedef char CHAR;
typedef CHAR *PCHAR;
typedef const CHAR *PCSTR;
typedef void *PVOID;
typedef int32_t BOOL;

#ifndef VOID
#define VOID void
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

/* x86-64 and other non-Windows ABIs have a single C calling convention. */
#ifndef WINAPI
#define WINAPI
#endif

/* Opaque handle: a pointer to a distinct, never-defined-by-the-caller struct. */
#ifndef DECLARE_HANDLE
#define DECLARE_HANDLE(name) \
    struct name##__ {        \
        int unused;          \
    };                       \
    typedef struct name##__ *name
#endif

#ifndef SUCCEEDED
#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#endif
#ifndef FAILED
#define FAILED(hr) (((HRESULT)(hr)) < 0)
#endif

#ifndef S_OK
#define S_OK ((HRESULT)0x00000000L)
#endif
#ifndef E_FAIL
#define E_FAIL ((HRESULT)0x80004005L)
#endif
#ifndef E_INVALIDARG
#define E_INVALIDARG ((HRESULT)0x80070057L)
#endif
#ifndef E_OUTOFMEMORY
#define E_OUTOFMEMORY ((HRESULT)0x8007000EL)
#endif
#ifndef ERROR_INSUFFICIENT_BUFFER
#define ERROR_INSUFFICIENT_BUFFER 122L
#endif
#ifndef HRESULT_FROM_WIN32
#define HRESULT_FROM_WIN32(x)                      \
    ((HRESULT)(x) <= 0 ? ((HRESULT)(x))            \
                       : ((HRESULT)(((x)&0x0000FFFF) | (7 << 16) | 0x80000000)))
#endif

/* Source-annotation (SAL) macros used by Windows headers: no meaning here. */
#ifndef _In_
#define _In_
#endif
#ifndef _In_opt_
#define _In_opt_
#endif
#ifndef _Out_
#define _Out_
#endif
#ifndef _Out_opt_
#define _Out_opt_
#endif
#ifndef _Inout_
#define _Inout_
#endif
#ifndef _Inout_opt_
#define _Inout_opt_
#endif
#ifndef _In_reads_
#define _In_reads_(size)
#endif
#ifndef _In_reads_opt_
#define _In_reads_opt_(size)
#endif
#ifndef _Out_writes_
#define _Out_writes_(size)
#endif
#ifndef _Inout_updates_to_
#define _Inout_updates_to_(size, count)
#endif
#ifndef _Inout_updates_to_opt_
#define _Inout_updates_to_opt_(size, count)
#endif
#ifndef _Field_size_
#define _Field_size_(size)
#endif
#ifndef _Field_size_bytes_
#define _Field_size_bytes_(size)
#endif
#ifndef _Field_range_
#define _Field_range_(lo, hi)
#endif

#endif /* _WIN32 */

/* WebSocket facility (0x376) HRESULTs. */
#ifndef E_INVALID_PROTOCOL_OPERATION
#define E_INVALID_PROTOCOL_OPERATION ((HRESULT)0x83760001L)
#endif
#ifndef E_INVALID_PROTOCOL_FORMAT
#define E_INVALID_PROTOCOL_FORMAT ((HRESULT)0x83760002L)
#endif
#ifndef E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED
#define E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED ((HRESULT)0x83760003L)
#endif
#ifndef E_SUBPROTOCOL_NOT_SUPPORTED
#define E_SUBPROTOCOL_NOT_SUPPORTED ((HRESULT)0x83760004L)
#endif
#ifndef E_PROTOCOL_VERSION_NOT_SUPPORTED
#define E_PROTOCOL_VERSION_NOT_SUPPORTED ((HRESULT)0x83760005L)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque session handle. NULL is never a valid handle. */
DECLARE_HANDLE(WEB_SOCKET_HANDLE);

/* Longest close reason, in bytes of UTF-8: a 125-byte control payload less
 * the 2-byte status code (RFC 6455 section 5.5). */
#define WEB_SOCKET_MAX_CLOSE_REASON_LENGTH 123

/* Close status codes (RFC 6455 section 7.4.1). Carried in
 * WEB_SOCKET_BUFFER.CloseStatus.usStatus. 1005, 1006 and 1015 are never
 * put on the wire. */
typedef enum _WEB_SOCKET_CLOSE_STATUS {
    WEB_SOCKET_SUCCESS_CLOSE_STATUS = 1000,
    WEB_SOCKET_ENDPOINT_UNAVAILABLE_CLOSE_STATUS = 1001,
    WEB_SOCKET_PROTOCOL_ERROR_CLOSE_STATUS = 1002,
    WEB_SOCKET_INVALID_DATA_TYPE_CLOSE_STATUS = 1003,
    WEB_SOCKET_EMPTY_CLOSE_STATUS = 1005,
    WEB_SOCKET_ABORTED_CLOSE_STATUS = 1006,
    WEB_SOCKET_INVALID_PAYLOAD_CLOSE_STATUS = 1007,
    WEB_SOCKET_POLICY_VIOLATION_CLOSE_STATUS = 1008,
    WEB_SOCKET_MESSAGE_TOO_BIG_CLOSE_STATUS = 1009,
    WEB_SOCKET_UNSUPPORTED_EXTENSIONS_CLOSE_STATUS = 1010,
    WEB_SOCKET_SERVER_ERROR_CLOSE_STATUS = 1011,
    WEB_SOCKET_SECURE_HANDSHAKE_ERROR_CLOSE_STATUS = 1015
} WEB_SOCKET_CLOSE_STATUS;

/* Properties. 0-4 configure a handle at creation (pvValue points at a
 * ULONG or BOOL of ulValueSize 4; for ALLOCATED_BUFFER pvValue points at a
 * PVOID holding the region's address and ulValueSize is the region's length).
 * 5 and 6 are read with WebSocketGetGlobalProperty only. */
typedef enum _WEB_SOCKET_PROPERTY_TYPE {
    WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE = 0,
    WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE = 1,
    WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE = 2,
    WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE = 3,
    WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE = 4,
    WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE = 5,
    WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE = 6
} WEB_SOCKET_PROPERTY_TYPE;

/*
 * wspc extension (not in Windows): pass this property type, with a BOOL value of TRUE, to
 * WebSocketCreateClientHandle / WebSocketCreateServerHandle to negotiate permessage-deflate
 * (RFC 7692) in the handshake. Data is compressed and inflated by the library; the
 * application still sees plain payloads. Not combinable with the allocated-buffer property.
 * Without it a handle behaves exactly as on Windows.
 */
#define WSPC_PERMESSAGE_DEFLATE_PROPERTY_TYPE ((WEB_SOCKET_PROPERTY_TYPE)0x57530001)

/* Which queue(s) WebSocketGetAction looks at. The receive queue also
 * carries the automatic pong that answers a received ping. */
typedef enum _WEB_SOCKET_ACTION_QUEUE {
    WEB_SOCKET_SEND_ACTION_QUEUE = 0x1,
    WEB_SOCKET_RECEIVE_ACTION_QUEUE = 0x2,
    WEB_SOCKET_ALL_ACTION_QUEUE = WEB_SOCKET_SEND_ACTION_QUEUE | WEB_SOCKET_RECEIVE_ACTION_QUEUE
} WEB_SOCKET_ACTION_QUEUE;

/* Buffer types. The values exceed INT_MAX on purpose (Windows' values);
 * GCC then gives the enum type unsigned int, 4 bytes like MSVC's. */
#if defined(__GNUC__) && !defined(__cplusplus)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
typedef enum _WEB_SOCKET_BUFFER_TYPE {
    WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE = 0x80000000,
    WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE = 0x80000001,
    WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE = 0x80000002,
    WEB_SOCKET_BINARY_FRAGMENT_BUFFER_TYPE = 0x80000003,
    WEB_SOCKET_CLOSE_BUFFER_TYPE = 0x80000004,
    WEB_SOCKET_PING_PONG_BUFFER_TYPE = 0x80000005,
    WEB_SOCKET_UNSOLICITED_PONG_BUFFER_TYPE = 0x80000006
} WEB_SOCKET_BUFFER_TYPE;
#if defined(__GNUC__) && !defined(__cplusplus)
#pragma GCC diagnostic pop
#endif

/* What WebSocketGetAction asks the application to do next. */
typedef enum _WEB_SOCKET_ACTION {
    WEB_SOCKET_NO_ACTION = 0,
    WEB_SOCKET_SEND_TO_NETWORK_ACTION = 1,
    WEB_SOCKET_INDICATE_SEND_COMPLETE_ACTION = 2,
    WEB_SOCKET_RECEIVE_FROM_NETWORK_ACTION = 3,
    WEB_SOCKET_INDICATE_RECEIVE_COMPLETE_ACTION = 4
} WEB_SOCKET_ACTION, *PWEB_SOCKET_ACTION;

/* One creation property: x86-64 size 24 (Type @0, pvValue @8, ulValueSize @16). */
typedef struct _WEB_SOCKET_PROPERTY {
    WEB_SOCKET_PROPERTY_TYPE Type;
    PVOID pvValue;
    ULONG ulValueSize;
} WEB_SOCKET_PROPERTY, *PWEB_SOCKET_PROPERTY;

/* One HTTP header; strings are counted, not NUL-terminated, and must not be
 * assumed NUL-terminated on output. x86-64 size 32. */
typedef struct _WEB_SOCKET_HTTP_HEADER {
    _Field_size_(ulNameLength) PCHAR pcName;
    ULONG ulNameLength;
    _Field_size_(ulValueLength) PCHAR pcValue;
    ULONG ulValueLength;
} WEB_SOCKET_HTTP_HEADER, *PWEB_SOCKET_HTTP_HEADER;

/* A lent or supplied buffer. Use CloseStatus with WEB_SOCKET_CLOSE_BUFFER_TYPE
 * and Data otherwise; pointer and length share offsets 0 and 8 in both arms.
 * x86-64 size 16, alignment 8. */
typedef union _WEB_SOCKET_BUFFER {
    struct {
        _Field_size_bytes_(ulBufferLength) PBYTE pbBuffer;
        ULONG ulBufferLength;
    } Data;
    struct {
        _Field_size_bytes_(ulReasonLength) PBYTE pbReason;
        _Field_range_(0, WEB_SOCKET_MAX_CLOSE_REASON_LENGTH) ULONG ulReasonLength;
        USHORT usStatus;
    } CloseStatus;
} WEB_SOCKET_BUFFER, *PWEB_SOCKET_BUFFER;

/* Create a client (masking) handle. pProperties may be NULL when
 * ulPropertyCount is 0. Release with WebSocketDeleteHandle. */
HRESULT WINAPI WebSocketCreateClientHandle(
    _In_reads_(ulPropertyCount) const PWEB_SOCKET_PROPERTY pProperties,
    _In_ ULONG ulPropertyCount,
    _Out_ WEB_SOCKET_HANDLE *phWebSocket);

/* Produce the WebSocket request headers for the client's upgrade request.
 * *pAdditionalHeaders is owned by the handle until the handshake ends. */
HRESULT WINAPI WebSocketBeginClientHandshake(
    _In_ WEB_SOCKET_HANDLE hWebSocket,
    _In_reads_opt_(ulSubprotocolCount) PCSTR *pszSubprotocols,
    _In_ ULONG ulSubprotocolCount,
    _In_reads_opt_(ulExtensionCount) PCSTR *pszExtensions,
    _In_ ULONG ulExtensionCount,
    _In_reads_opt_(ulInitialHeaderCount) const PWEB_SOCKET_HTTP_HEADER pInitialHeaders,
    _In_ ULONG ulInitialHeaderCount,
    _Out_writes_(*pulAdditionalHeaderCount) PWEB_SOCKET_HTTP_HEADER *pAdditionalHeaders,
    _Out_ ULONG *pulAdditionalHeaderCount);

/* Check the server's response headers; report the chosen subprotocol and
 * extensions as indices into the arrays given to the Begin call. */
HRESULT WINAPI WebSocketEndClientHandshake(
    _In_ WEB_SOCKET_HANDLE hWebSocket,
    _In_reads_(ulReponseHeaderCount) const PWEB_SOCKET_HTTP_HEADER pResponseHeaders,
    _In_ ULONG ulReponseHeaderCount,
    _Inout_updates_to_opt_(*pulSelectedExtensionCount, *pulSelectedExtensionCount) ULONG *pulSelectedExtensions,
    _Inout_opt_ ULONG *pulSelectedExtensionCount,
    _Inout_opt_ ULONG *pulSelectedSubprotocol);

/* Create a server handle. pProperties may be NULL when ulPropertyCount is 0. */
HRESULT WINAPI WebSocketCreateServerHandle(
    _In_reads_(ulPropertyCount) const PWEB_SOCKET_PROPERTY pProperties,
    _In_ ULONG ulPropertyCount,
    _Out_ WEB_SOCKET_HANDLE *phWebSocket);

/* Check the client's request headers and produce the response headers.
 * *pResponseHeaders is owned by the handle until the handshake ends. */
HRESULT WINAPI WebSocketBeginServerHandshake(
    _In_ WEB_SOCKET_HANDLE hWebSocket,
    _In_opt_ PCSTR pszSubprotocolSelected,
    _In_reads_opt_(ulExtensionSelectedCount) PCSTR *pszExtensionSelected,
    _In_ ULONG ulExtensionSelectedCount,
    _In_reads_(ulRequestHeaderCount) const PWEB_SOCKET_HTTP_HEADER pRequestHeaders,
    _In_ ULONG ulRequestHeaderCount,
    _Out_writes_(*pulResponseHeaderCount) PWEB_SOCKET_HTTP_HEADER *pResponseHeaders,
    _Out_ ULONG *pulResponseHeaderCount);

/* Finish the server handshake (optional: the first session call does it). */
HRESULT WINAPI WebSocketEndServerHandshake(
    _In_ WEB_SOCKET_HANDLE hWebSocket);

/* Queue one send. pBuffer must be NULL for PING_PONG and UNSOLICITED_PONG;
 * NULL for CLOSE sends a close frame without status. At most one send may
 * be outstanding (a second one fails with E_INVALID_PROTOCOL_OPERATION). */
HRESULT WINAPI WebSocketSend(
    _In_ WEB_SOCKET_HANDLE hWebSocket,
    _In_ WEB_SOCKET_BUFFER_TYPE BufferType,
    _In_opt_ WEB_SOCKET_BUFFER *pBuffer,
    _In_opt_ PVOID Context);

/* Queue one receive (pBuffer NULL: data is lent from the handle's memory).
 * At most one receive may be outstanding. */
HRESULT WINAPI WebSocketReceive(
    _In_ WEB_SOCKET_HANDLE hWebSocket,
    _In_opt_ WEB_SOCKET_BUFFER *pBuffer,
    _In_opt_ PVOID pvContext);

/* Ask what to do next on the selected queue(s). On failure *pAction is
 * WEB_SOCKET_NO_ACTION, *pulDataBufferCount 0 and *pvActionContext NULL. */
HRESULT WINAPI WebSocketGetAction(
    _In_ WEB_SOCKET_HANDLE hWebSocket,
    _In_ WEB_SOCKET_ACTION_QUEUE eActionQueue,
    _Inout_updates_to_(*pulDataBufferCount, *pulDataBufferCount) WEB_SOCKET_BUFFER *pDataBuffers,
    _Inout_ ULONG *pulDataBufferCount,
    _Out_ WEB_SOCKET_ACTION *pAction,
    _Out_ WEB_SOCKET_BUFFER_TYPE *pBufferType,
    _Out_opt_ PVOID *pvApplicationContext,
    _Out_ PVOID *pvActionContext);

/* Report that the action identified by pvActionContext has been carried out.
 * ulBytesTransferred matters for the two network actions only. */
VOID WINAPI WebSocketCompleteAction(
    _In_ WEB_SOCKET_HANDLE hWebSocket,
    _In_ PVOID pvActionContext,
    _In_ ULONG ulBytesTransferred);

/* Abort the session: new sends/receives fail, queued ones drain through
 * WebSocketGetAction as completions. Safe to call more than once. */
VOID WINAPI WebSocketAbortHandle(
    _In_ WEB_SOCKET_HANDLE hWebSocket);

/* Free the handle. It must not be used afterwards. */
VOID WINAPI WebSocketDeleteHandle(
    _In_ WEB_SOCKET_HANDLE hWebSocket);

/* Read KEEPALIVE_INTERVAL (ULONG ms) or SUPPORTED_VERSIONS (ULONG array).
 * *ulSize: buffer size in, bytes written (or needed) out. */
HRESULT WINAPI WebSocketGetGlobalProperty(
    _In_ WEB_SOCKET_PROPERTY_TYPE eType,
    _Inout_updates_to_(*ulSize, *ulSize) PVOID pvValue,
    _Inout_ ULONG *ulSize);

#ifdef __cplusplus
}
#endif

#endif /* __WEBSOCKET_H__ */
