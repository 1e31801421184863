//! A client handle and a server handle talking in memory, printing every action the way
//! Microsoft's Windows-classic-samples `Websocket` program does. A starting point for
//! newcomers: there is no socket here, just two byte vectors standing in for one.
//!
//! ```text
//! cargo run -p wspc --example in_memory
//! ```
//!
//! The steps: the opening handshake (header arrays passed between the two handles), "Hello
//! World" both ways, a message sent in three fragments, a ping answered automatically by a
//! pong, and the close handshake.

use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader, Payload, SendBuffer};

/// The bytes written by one side and not yet read by the other: our stand-in for TCP.
#[derive(Default)]
struct Transport {
    bytes: Vec<u8>,
}

impl Transport {
    fn write(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
    }
    fn read(&mut self, into: &mut [u8]) -> usize {
        let n = into.len().min(self.bytes.len());
        into[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes.drain(..n);
        n
    }
}

fn print_headers(title: &str, headers: &[OwnedHeader]) {
    println!("{title}");
    for h in headers {
        println!("  {}: {}", h.name, h.value);
    }
}

fn borrow(headers: &[OwnedHeader]) -> Vec<Header<'_>> {
    headers.iter().map(OwnedHeader::as_header).collect()
}

/// WebSocketBeginClientHandshake → (request) → WebSocketBeginServerHandshake → (response)
/// → WebSocketEndClientHandshake → WebSocketEndServerHandshake, as in the Windows sample.
fn handshake(client: &mut Handle, server: &mut Handle) -> wspc::Result<()> {
    let mut request = client.begin_client_handshake(&[], &[], &[])?.to_vec();
    // The application adds its own headers (the sample adds Host) and sends the GET.
    request.push(OwnedHeader { name: "Host".into(), value: "localhost".into() });
    print_headers("Client request headers:", &request);

    let response = server.begin_server_handshake(None, &[], &borrow(&request))?.to_vec();
    print_headers("Server response headers:", &response);

    client.end_client_handshake(&borrow(&response))?;
    server.end_server_handshake()?;
    println!("Handshake complete.\n");
    Ok(())
}

fn buffer_type_name(t: BufferType) -> &'static str {
    match t {
        BufferType::Utf8Message => "UTF8_MESSAGE",
        BufferType::Utf8Fragment => "UTF8_FRAGMENT",
        BufferType::BinaryMessage => "BINARY_MESSAGE",
        BufferType::BinaryFragment => "BINARY_FRAGMENT",
        BufferType::Close => "CLOSE",
        BufferType::PingPong => "PING_PONG",
        BufferType::UnsolicitedPong => "UNSOLICITED_PONG",
    }
}

/// The sample's `RunLoop`: ask for an action, do it, complete it, until `NO_ACTION`.
fn run_loop(name: &str, handle: &mut Handle, outgoing: &mut Transport, incoming: &mut Transport) -> wspc::Result<()> {
    let mut cancelled = false;
    loop {
        let action = handle.get_action(ActionQueue::All)?;
        let token = action.token();
        let bytes = match action {
            Action::NoAction => {
                println!("{name}: NO_ACTION");
                break;
            }
            Action::SendToNetwork { buffers, buffer_type, .. } => {
                let mut n = 0;
                for b in buffers.as_slices() {
                    outgoing.write(b);
                    n += b.len();
                }
                println!(
                    "{name}: SEND_TO_NETWORK: {n} bytes in {} buffer(s), type {}",
                    buffers.as_slices().len(),
                    buffer_type_name(buffer_type)
                );
                n
            }
            Action::IndicateSendComplete { buffer_type, .. } => {
                println!("{name}: INDICATE_SEND_COMPLETE ({})", buffer_type_name(buffer_type));
                0
            }
            Action::ReceiveFromNetwork { buffer, .. } => {
                let n = incoming.read(buffer);
                if n == 0 {
                    // A socket would block here; our transport is empty, and completing with 0
                    // cancels the receive (a real application does that when the peer hung up).
                    println!("{name}: RECEIVE_FROM_NETWORK: nothing to read, complete with 0 (cancels the receive)");
                    cancelled = true;
                } else {
                    println!("{name}: RECEIVE_FROM_NETWORK: read {n} bytes (room for {})", buffer.len());
                }
                n
            }
            Action::IndicateReceiveComplete { .. } if cancelled => {
                println!("{name}: INDICATE_RECEIVE_COMPLETE: cancelled, no data");
                cancelled = false;
                0
            }
            Action::IndicateReceiveComplete { buffer_type, data, close_status, .. } => {
                match buffer_type {
                    BufferType::Close => println!(
                        "{name}: INDICATE_RECEIVE_COMPLETE: CLOSE, status {}, reason \"{}\"",
                        close_status.unwrap_or_default(),
                        String::from_utf8_lossy(data)
                    ),
                    BufferType::PingPong => {
                        println!("{name}: INDICATE_RECEIVE_COMPLETE: PING_PONG (a pong arrived, {} bytes)", data.len())
                    }
                    t if t.is_text() => println!(
                        "{name}: INDICATE_RECEIVE_COMPLETE: {}: \"{}\"",
                        buffer_type_name(t),
                        String::from_utf8_lossy(data)
                    ),
                    t => println!("{name}: INDICATE_RECEIVE_COMPLETE: {}: {} bytes", buffer_type_name(t), data.len()),
                }
                0
            }
        };
        // Every action except NO_ACTION is completed exactly once.
        handle.complete_action(token, bytes);
    }
    Ok(())
}

fn main() -> wspc::Result<()> {
    let mut client = Handle::client(Config::client())?;
    let mut server = Handle::server(Config::server())?;
    let mut to_server = Transport::default();
    let mut to_client = Transport::default();

    handshake(&mut client, &mut server)?;

    println!("-- Client sends \"Hello World\"; the server receives it.");
    client.send_data(BufferType::Utf8Message, "Hello World", 0)?;
    run_loop("client", &mut client, &mut to_server, &mut to_client)?;
    server.receive(0)?;
    run_loop("server", &mut server, &mut to_client, &mut to_server)?;

    println!("\n-- Server answers with binary \"Hello World\".");
    server.send_data(BufferType::BinaryMessage, "Hello World", 0)?;
    run_loop("server", &mut server, &mut to_client, &mut to_server)?;
    client.receive(0)?;
    run_loop("client", &mut client, &mut to_server, &mut to_client)?;

    println!("\n-- Client sends one message in three fragments (FRAGMENT, FRAGMENT, MESSAGE).");
    for (i, piece) in ["Hello ", "fragmented ", "World"].into_iter().enumerate() {
        let ty = if i < 2 { BufferType::Utf8Fragment } else { BufferType::Utf8Message };
        client.send_data(ty, piece, 0)?;
        run_loop("client", &mut client, &mut to_server, &mut to_client)?;
    }
    // Each receive completes with one chunk; post receives until the MESSAGE chunk.
    for _ in 0..3 {
        server.receive(0)?;
        run_loop("server", &mut server, &mut to_client, &mut to_server)?;
    }

    println!("\n-- Client pings; the server's pending receive answers with a pong by itself.");
    client.send(BufferType::PingPong, None, 0)?;
    run_loop("client", &mut client, &mut to_server, &mut to_client)?;
    server.receive(0)?;
    // The server reads the ping and writes the pong without completing the receive, which then
    // asks for more data: none is there, so this example cancels it.
    run_loop("server", &mut server, &mut to_client, &mut to_server)?;
    client.receive(0)?;
    run_loop("client", &mut client, &mut to_server, &mut to_client)?;

    println!("\n-- Client closes (1000, \"bye\"); the server sees it and answers.");
    client.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: Payload::from("bye") }), 0)?;
    run_loop("client", &mut client, &mut to_server, &mut to_client)?;
    server.receive(0)?;
    run_loop("server", &mut server, &mut to_client, &mut to_server)?;
    server.send(BufferType::Close, Some(SendBuffer::Close { status: 1000, reason: Payload::EMPTY }), 0)?;
    run_loop("server", &mut server, &mut to_client, &mut to_server)?;
    client.receive(0)?;
    run_loop("client", &mut client, &mut to_server, &mut to_client)?;

    println!("\nBoth sides closed; the application would now close the TCP connection.");
    Ok(())
}
