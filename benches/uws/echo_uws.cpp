// Echo server on uWebSockets (no SSL, compression off, maxPayloadLength 64 MiB): every data
// message is sent back with its opcode. Built by benches/uws/build.sh from the sources the
// crates.io crate libuwebsockets-sys ships (never committed here). Usage: echo_uws HOST:PORT
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
                        .maxPayloadLength = 64 * 1024 * 1024,
                        .idleTimeout = 0,
                        .maxBackpressure = 64 * 1024 * 1024,
                        .closeOnBackpressureLimit = false,
                        .message = [](auto *ws, std::string_view message,
                                      uWS::OpCode opCode) { ws->send(message, opCode); }})
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
