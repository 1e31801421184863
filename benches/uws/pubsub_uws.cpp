// Pub/sub benchmark server on uWebSockets (no SSL, no compression): every connection
// subscribes to one topic; what a connection sends is published to the topic with
// ws->publish (the sender excluded), as benches/src/bin/pubsub_wspc.rs does.
// Built by benches/uws/build.sh from the sources the crates.io crate libuwebsockets-sys
// ships (never committed here). Usage: pubsub_uws HOST:PORT
#include "App.h"
#include <cstdio>
#include <string>

struct PerSocket {};

int main(int argc, char **argv) {
    std::string addr = argc > 1 ? argv[1] : "127.0.0.1:9001";
    std::string host = addr.substr(0, addr.rfind(':'));
    int port = std::stoi(addr.substr(addr.rfind(':') + 1));
    uWS::App()
        .ws<PerSocket>("/*",
                       {.compression = uWS::DISABLED,
                        .maxPayloadLength = 16 * 1024 * 1024,
                        .idleTimeout = 0,
                        .maxBackpressure = 1024 * 1024,
                        .closeOnBackpressureLimit = false,
                        .open = [](auto *ws) { ws->subscribe("bench"); },
                        .message = [](auto *ws, std::string_view message,
                                      uWS::OpCode opCode) { ws->publish("bench", message, opCode); }})
        .listen(host, port,
                [&](auto *token) {
                    if (token) {
                        std::printf("listening on %s\n", addr.c_str());
                        std::fflush(stdout);
                    } else {
                        std::fprintf(stderr, "cannot listen on %s\n", addr.c_str());
                    }
                })
        .run();
}
