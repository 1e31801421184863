/*
 * empty_message.c -- zero-length messages, both directions, text and binary,
 * and an empty final fragment that ends a fragmented message.
 */
#define T_PROGRAM "empty_message"
#include "harness.h"

static void one_way(t_endpoint *from, t_endpoint *to, WEB_SOCKET_BUFFER_TYPE type)
{
    static BYTE nothing[1];
    t_send(from, type, nothing, 0, NULL);
    t_pump(from);
    t_receive_message(to);
    T_ASSERT(to->msg_done, "[%s] an empty message never arrived", to->name);
    T_ASSERT(to->last_type == type && to->msg_len == 0, "[%s] got type 0x%x, %zu bytes", to->name,
             (unsigned)to->last_type, to->msg_len);
}

int main(void)
{
    WEB_SOCKET_HANDLE c, s;
    T_OK(WebSocketCreateClientHandle(NULL, 0, &c));
    T_OK(WebSocketCreateServerHandle(NULL, 0, &s));
    t_handshake(c, s);
    t_pipe c2s, s2c;
    memset(&c2s, 0, sizeof(c2s));
    memset(&s2c, 0, sizeof(s2c));
    t_endpoint client, server;
    t_endpoint_init(&client, "client", c, &s2c, &c2s);
    t_endpoint_init(&server, "server", s, &c2s, &s2c);

    one_way(&client, &server, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE);
    one_way(&client, &server, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE);
    one_way(&server, &client, WEB_SOCKET_BINARY_MESSAGE_BUFFER_TYPE);
    one_way(&server, &client, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE);

    /* "abc" then an empty final fragment. */
    static const BYTE abc[3] = {'a', 'b', 'c'};
    t_send(&client, WEB_SOCKET_UTF8_FRAGMENT_BUFFER_TYPE, abc, 3, NULL);
    t_pump(&client);
    t_send(&client, WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE, abc, 0, NULL);
    t_pump(&client);
    t_receive_message(&server);
    T_ASSERT(server.msg_done && server.msg_len == 3 && server.last_type == WEB_SOCKET_UTF8_MESSAGE_BUFFER_TYPE,
             "fragmented message with an empty end: done %d, %zu bytes", server.msg_done, server.msg_len);

    WebSocketDeleteHandle(c);
    WebSocketDeleteHandle(s);
    t_endpoint_free(&client);
    t_endpoint_free(&server);
    t_pipe_free(&c2s);
    t_pipe_free(&s2c);
    printf("empty_message: all checks passed\n");
    return 0;
}
