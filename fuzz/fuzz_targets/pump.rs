// Shared by the frame targets: a connected handle pair and a receive pump that feeds
// arbitrary bytes in arbitrary chunks and checks what comes out.
use wspc::{Action, ActionQueue, BufferType, Config, Handle, Header, OwnedHeader, Role};

pub fn open_pair(client: Config, server: Config) -> (Handle, Handle) {
    let mut c = Handle::client(client).unwrap();
    let mut s = Handle::server(server).unwrap();
    let mut req: Vec<OwnedHeader> = c.begin_client_handshake(&[], &[], &[]).unwrap().to_vec();
    req.push(OwnedHeader { name: "Host".into(), value: "fuzz".into() });
    let rh: Vec<Header<'_>> = req.iter().map(OwnedHeader::as_header).collect();
    let resp = s.begin_server_handshake(None, &[], &rh).unwrap().to_vec();
    let sh: Vec<Header<'_>> = resp.iter().map(OwnedHeader::as_header).collect();
    c.end_client_handshake(&sh).unwrap();
    s.end_server_handshake().unwrap();
    (c, s)
}

/// Feeds `input` to `h` through RECEIVE_FROM_NETWORK actions, `chunks` choosing read sizes.
/// Checks every invariant the engine promises; panics (a fuzz finding) when one breaks.
pub fn pump(h: &mut Handle, role: Role, recv_size: usize, input: &[u8], chunks: &[u8]) {
    let mut pos = 0;
    let mut ci = 0;
    let mut message_open: Option<bool> = None;
    let mut text = Vec::new();
    let verify = true;
    for _round in 0..100_000 {
        if !h.receive_half().is_pending() && h.receive(7).is_err() {
            return;
        }
        let action = match h.get_action(ActionQueue::Receive) {
            Ok(a) => a,
            Err(e) => {
                assert!(matches!(e, wspc::Error::Protocol(_)), "{e:?}");
                assert!(matches!(e.close_code(), Some(1002 | 1007 | 1009)));
                // Sticky: asking again gives the same error.
                let again = h.get_action(ActionQueue::Receive).err();
                assert_eq!(again, Some(e));
                return;
            }
        };
        let token = action.token();
        match action {
            Action::NoAction => unreachable!("a receive is always posted"),
            Action::ReceiveFromNetwork { buffer, context, .. } => {
                assert_eq!(context, 7);
                assert!(!buffer.is_empty());
                if pos >= input.len() {
                    h.complete_action(token, 0);
                    return;
                }
                let want = chunks.get(ci).map_or(4096, |&c| c as usize + 1);
                ci += 1;
                let n = want.min(buffer.len()).min(input.len() - pos);
                buffer[..n].copy_from_slice(&input[pos..pos + n]);
                pos += n;
                h.complete_action(token, n);
            }
            Action::SendToNetwork { buffers, context, .. } => {
                // Automatic pong: one contiguous buffer, a whole unfragmented pong frame.
                assert_eq!(context, None);
                let b = buffers.as_slices();
                assert_eq!(b.len(), 1);
                assert_eq!(b[0][0], 0x8A);
                assert_eq!(b[0][1] & 0x80 != 0, role == Role::Client);
                let n = buffers.len();
                h.complete_action(token, n);
            }
            Action::IndicateReceiveComplete { buffer_type, data, close_status, .. } => {
                assert!(data.len() <= recv_size);
                match buffer_type {
                    BufferType::Close => {
                        let st = close_status.unwrap();
                        assert!(st == 1005 || wspc::close_status::is_valid_on_wire(st));
                        assert!(std::str::from_utf8(data).is_ok());
                        h.complete_action(token, 0);
                        return;
                    }
                    BufferType::PingPong => assert!(data.len() <= 125),
                    t if t.is_data() => {
                        if let Some(was_text) = message_open {
                            assert_eq!(was_text, t.is_text(), "type changed inside a message");
                        }
                        if t.is_text() {
                            text.extend_from_slice(data);
                        }
                        if t.is_message_end() {
                            if t.is_text() && verify {
                                assert!(std::str::from_utf8(&text).is_ok(), "invalid UTF-8 delivered");
                            }
                            text.clear();
                            message_open = None;
                        } else {
                            message_open = Some(t.is_text());
                        }
                    }
                    other => panic!("unexpected receive type {other:?}"),
                }
                h.complete_action(token, 0);
            }
            Action::IndicateSendComplete { .. } => panic!("send completion on the receive queue"),
        }
    }
}
