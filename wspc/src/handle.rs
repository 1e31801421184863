//! The handle: handshake state plus the two queue halves.

use crate::action::{Action, ActionToken, Payload};
use crate::config::{Config, Role};
use crate::error::{Misuse, Result};
use crate::handshake::{self, Header, OwnedHeader};
use crate::proto::{Decoder, Encoder};
use crate::recv::{ReceiveHalf, QUEUE_RECV};
use crate::region::{split_regions, Shared};
use crate::send::{SendBuffer, SendHalf, QUEUE_SEND};
use crate::types::{ActionQueue, BufferType};
use std::sync::Arc;

enum State {
    Created,
    /// Boxed: an open handle should not carry room for it.
    ClientHandshaking(Box<ClientHandshake>),
    ServerHandshaking {
        headers: Vec<OwnedHeader>,
    },
    Open,
}

struct ClientHandshake {
    key: String,
    subprotocols: Vec<String>,
    extensions: Vec<String>,
    headers: Vec<OwnedHeader>,
}

/// What `end_client_handshake` reports: indices into the arrays given to
/// `begin_client_handshake`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHandshakeResult {
    /// The subprotocol the server chose.
    pub subprotocol: Option<usize>,
    /// The extensions the server accepted (application-offered ones only; permessage-deflate
    /// negotiated by the engine itself is reported by [`Handle::deflate_params`]).
    pub extensions: Vec<usize>,
}

/// A WebSocket session handle (`WEB_SOCKET_HANDLE`): a client or server endpoint of one
/// connection, doing no I/O.
///
/// # Legal call sequences
/// | state | call | then |
/// |---|---|---|
/// | created | [`begin_client_handshake`](Self::begin_client_handshake) (client) | send the GET with the returned headers, read the `101`, then [`end_client_handshake`](Self::end_client_handshake) |
/// | created | [`begin_server_handshake`](Self::begin_server_handshake) (server) | send the `101` with the returned headers; [`end_server_handshake`](Self::end_server_handshake) (or any session call) opens |
/// | created | [`open_without_handshake`](Self::open_without_handshake) | open, no extension |
/// | open | [`send`](Self::send) (one outstanding), [`receive`](Self::receive) / [`receive_into`](Self::receive_into) (one outstanding) | loop on [`get_action`](Self::get_action), do what each [`Action`] says, answer it with [`complete_action`](Self::complete_action) (exactly once), until `NoAction` |
/// | open | [`abort`](Self::abort) | drain `get_action` (queued operations come back as their `Indicate*Complete`) until `NoAction`; drop |
/// | open, nothing queued | [`split`](Self::split) | the same calls on [`SendHalf`] and [`ReceiveHalf`], one thread each |
/// | open, nothing queued | [`into_codec`](Self::into_codec) | drive the [`Encoder`] and [`Decoder`] directly (see [`proto`](crate::proto)) |
///
/// For two threads, [`split`](Self::split) the open handle into a [`SendHalf`] and a
/// [`ReceiveHalf`]; they share only a few atomics.
pub struct Handle {
    role: Role,
    /// Needed only until the session opens (extension negotiation), then dropped: boxed
    /// so that an open handle carries a pointer, not the whole configuration.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    config: Option<Box<Config>>,
    state: State,
    send: SendHalf,
    recv: ReceiveHalf,
    prefer_send: bool,
    #[cfg(feature = "deflate")]
    deflate: Option<crate::deflate::DeflateParams>,
}

impl Handle {
    /// `WebSocketCreateClientHandle` with a configuration.
    pub fn client(config: Config) -> Result<Self> {
        if config.role != Role::Client {
            return Err(Misuse::InvalidArgument("server configuration given to a client handle").into());
        }
        Ok(Self::new(config))
    }

    /// `WebSocketCreateServerHandle` with a configuration.
    pub fn server(config: Config) -> Result<Self> {
        if config.role != Role::Server {
            return Err(Misuse::InvalidArgument("client configuration given to a server handle").into());
        }
        Ok(Self::new(config))
    }

    /// A handle for `config`'s role.
    pub fn new(config: Config) -> Self {
        let shared = Arc::new(Shared::default());
        let recv_cap = config.receive_buffer_size as usize;
        let (rbuf, sbuf) = split_regions(recv_cap, config.send_buffer_size as usize, config.allocated);
        let send = SendHalf::new(shared.clone(), config.role, config.disable_masking, sbuf);
        let recv = ReceiveHalf::new(shared, &config, rbuf, recv_cap);
        Self {
            role: config.role,
            config: Some(Box::new(config)),
            state: State::Created,
            send,
            recv,
            prefer_send: false,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once the handshake has finished.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// `WebSocketBeginClientHandshake`: the headers to add to the upgrade request. They stay
    /// owned by the handle until the handshake ends. `initial_headers` (the headers the
    /// application will send) are accepted for parity with Windows and not needed.
    pub fn begin_client_handshake(
        &mut self,
        subprotocols: &[&str],
        extensions: &[&str],
        initial_headers: &[Header<'_>],
    ) -> Result<&[OwnedHeader]> {
        let _ = initial_headers;
        self.begin_client(subprotocols, extensions, false)
    }

    /// Like [`Handle::begin_client_handshake`], for a WebSocket bootstrapped with an HTTP/2
    /// extended CONNECT (RFC 8441): the headers carry the version and the offers only, and
    /// [`Handle::end_client_handshake`] then checks the selection without an accept key.
    pub fn begin_client_handshake_extended(
        &mut self,
        subprotocols: &[&str],
        extensions: &[&str],
    ) -> Result<&[OwnedHeader]> {
        self.begin_client(subprotocols, extensions, true)
    }

    fn begin_client(&mut self, subprotocols: &[&str], extensions: &[&str], extended: bool) -> Result<&[OwnedHeader]> {
        if self.role != Role::Client {
            return Err(Misuse::WrongState("begin_client_handshake on a server handle").into());
        }
        if !matches!(self.state, State::Created) {
            return Err(Misuse::WrongState("the handshake already began").into());
        }
        #[cfg(feature = "deflate")]
        self.check_deflate_allowed()?;
        for p in subprotocols {
            handshake::validate_token(p).map_err(Misuse::InvalidArgument)?;
        }
        for e in extensions {
            handshake::validate_extension(e).map_err(Misuse::InvalidArgument)?;
        }
        let key = if extended { String::new() } else { handshake::generate_key() };
        #[allow(unused_mut)]
        let mut offered: Vec<String> = extensions.iter().map(|s| s.to_string()).collect();
        #[cfg(feature = "deflate")]
        if let Some(d) = &self.cfg().deflate {
            offered.extend(d.client_offers());
        }
        let headers = if extended {
            handshake::extended_request_headers(subprotocols, &offered)
        } else {
            handshake::client_request_headers(&key, subprotocols, &offered)
        };
        self.state = State::ClientHandshaking(Box::new(ClientHandshake {
            key,
            subprotocols: subprotocols.iter().map(|s| s.to_string()).collect(),
            extensions: extensions.iter().map(|s| s.to_string()).collect(),
            headers,
        }));
        match &self.state {
            State::ClientHandshaking(c) => Ok(&c.headers),
            _ => unreachable!("state set above"),
        }
    }

    /// `WebSocketEndClientHandshake`: validates the response headers (the application has
    /// already checked for status 101) and opens the session.
    pub fn end_client_handshake(&mut self, response: &[Header<'_>]) -> Result<ClientHandshakeResult> {
        let State::ClientHandshaking(c) = &self.state else {
            return Err(Misuse::WrongState("end_client_handshake before begin_client_handshake").into());
        };
        let ClientHandshake { key, subprotocols, extensions, .. } = &**c;
        let offered: Vec<&str> = subprotocols.iter().map(String::as_str).collect();
        // An extended CONNECT has no key, and its answer no accept key.
        let r = if key.is_empty() {
            handshake::validate_selection(response, &offered)?
        } else {
            handshake::validate_response(response, key, &offered)?
        };
        let mut selected = Vec::new();
        #[cfg(feature = "deflate")]
        let mut deflate_params = None;
        for item in &r.extensions {
            let name = handshake::extension_name(item.as_bytes());
            if let Some(i) =
                extensions.iter().position(|e| handshake::extension_name(e.as_bytes()).eq_ignore_ascii_case(name))
            {
                if selected.contains(&i) {
                    return Err(crate::error::HandshakeError::ExtensionNotSupported.into());
                }
                selected.push(i);
                continue;
            }
            #[cfg(feature = "deflate")]
            if let Some(d) = &self.cfg().deflate {
                if name.eq_ignore_ascii_case(crate::deflate::EXTENSION_NAME.as_bytes()) && deflate_params.is_none() {
                    deflate_params = Some(d.accept_response(item)?);
                    continue;
                }
            }
            return Err(crate::error::HandshakeError::ExtensionNotSupported.into());
        }
        #[cfg(feature = "deflate")]
        if let Some(p) = deflate_params {
            self.install_deflate(p);
        }
        self.set_open();
        Ok(ClientHandshakeResult { subprotocol: r.subprotocol, extensions: selected })
    }

    /// `WebSocketBeginServerHandshake`: validates the request headers and returns the headers
    /// for the `101` response, with the application's chosen subprotocol and extensions.
    pub fn begin_server_handshake(
        &mut self,
        subprotocol: Option<&str>,
        extensions: &[&str],
        request: &[Header<'_>],
    ) -> Result<&[OwnedHeader]> {
        self.begin_server(subprotocol, extensions, request, false)
    }

    /// Like [`Handle::begin_server_handshake`], for an HTTP/2 extended CONNECT (RFC 8441):
    /// `request` holds the regular headers of the CONNECT (the HTTP/2 layer has checked
    /// `:method` and `:protocol`); the returned headers go with its `200` response. The
    /// subprotocol and permessage-deflate negotiation is the same as over HTTP/1.1.
    pub fn begin_server_handshake_extended(
        &mut self,
        subprotocol: Option<&str>,
        extensions: &[&str],
        request: &[Header<'_>],
    ) -> Result<&[OwnedHeader]> {
        self.begin_server(subprotocol, extensions, request, true)
    }

    fn begin_server(
        &mut self,
        subprotocol: Option<&str>,
        extensions: &[&str],
        request: &[Header<'_>],
        extended: bool,
    ) -> Result<&[OwnedHeader]> {
        if self.role != Role::Server {
            return Err(Misuse::WrongState("begin_server_handshake on a client handle").into());
        }
        if !matches!(self.state, State::Created) {
            return Err(Misuse::WrongState("the handshake already began").into());
        }
        #[cfg(feature = "deflate")]
        self.check_deflate_allowed()?;
        if let Some(p) = subprotocol {
            handshake::validate_token(p).map_err(Misuse::InvalidArgument)?;
        }
        for e in extensions {
            handshake::validate_extension(e).map_err(Misuse::InvalidArgument)?;
        }
        let req = if extended {
            handshake::validate_extended_request(request)?
        } else {
            handshake::validate_request(request)?
        };
        #[allow(unused_mut)]
        let mut answer: Vec<String> = extensions.iter().map(|s| s.to_string()).collect();
        #[cfg(feature = "deflate")]
        if let Some(d) = &self.cfg().deflate {
            let app_took_deflate = extensions.iter().any(|e| {
                handshake::extension_name(e.as_bytes()).eq_ignore_ascii_case(crate::deflate::EXTENSION_NAME.as_bytes())
            });
            if !app_took_deflate {
                if let Some((params, response)) = d.negotiate_server(&req.extensions) {
                    answer.push(response);
                    self.install_deflate(params);
                }
            }
        }
        let headers = if extended {
            handshake::extended_response_headers(subprotocol, &answer)
        } else {
            handshake::server_response_headers(&req.key, subprotocol, &answer)
        };
        self.state = State::ServerHandshaking { headers };
        match &self.state {
            State::ServerHandshaking { headers } => Ok(headers),
            _ => unreachable!("state set above"),
        }
    }

    /// `WebSocketEndServerHandshake`: finishes the server handshake (optional).
    pub fn end_server_handshake(&mut self) -> Result<()> {
        match self.state {
            State::ServerHandshaking { .. } => {
                self.set_open();
                Ok(())
            }
            _ => Err(Misuse::WrongState("end_server_handshake without begin_server_handshake").into()),
        }
    }

    /// The headers produced by the handshake call in progress, if any.
    pub fn handshake_headers(&self) -> Option<&[OwnedHeader]> {
        match &self.state {
            State::ClientHandshaking(c) => Some(&c.headers),
            State::ServerHandshaking { headers } => Some(headers),
            _ => None,
        }
    }

    /// Marks a handle open without a handshake, for when the upgrade happened elsewhere
    /// (no extension is in force then).
    pub fn open_without_handshake(&mut self) -> Result<()> {
        if !matches!(self.state, State::Created) {
            return Err(Misuse::WrongState("the handshake already began").into());
        }
        self.set_open();
        Ok(())
    }

    /// The configuration, which is kept until the session opens.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    fn cfg(&self) -> &Config {
        self.config.as_deref().expect("the configuration is kept until the session opens")
    }

    /// The handshake is over: the session is open and the configuration no longer needed.
    fn set_open(&mut self) {
        self.state = State::Open;
        self.config = None;
    }

    /// permessage-deflate lends its own memory (inflated chunks, compressed payloads), which
    /// would break the allocated-buffer promise that every lent pointer lies inside that
    /// buffer or the caller's payload; so the two cannot be combined.
    #[cfg(feature = "deflate")]
    fn check_deflate_allowed(&self) -> Result<()> {
        if self.cfg().deflate.is_some() && self.cfg().allocated.is_some() {
            return Err(Misuse::InvalidProperty("permessage-deflate cannot be used with an allocated buffer").into());
        }
        Ok(())
    }

    #[cfg(feature = "deflate")]
    fn install_deflate(&mut self, p: crate::deflate::DeflateParams) {
        let d = self.cfg().deflate.as_ref().expect("deflate configured");
        let (c, dec) = crate::deflate::codec_pair(
            self.role,
            &p,
            d,
            self.cfg().receive_buffer_size as usize,
            self.cfg().max_message_size,
        );
        self.send.enc.deflate = Some(Box::new(c));
        self.recv.dec.inflate = Some(Box::new(dec));
        self.deflate = Some(p);
    }

    fn session(&mut self) -> Result<()> {
        match self.state {
            State::Open => Ok(()),
            State::ServerHandshaking { .. } => {
                self.set_open();
                Ok(())
            }
            _ => Err(Misuse::WrongState("the handshake has not completed").into()),
        }
    }

    /// `WebSocketSend`: queues one send. See [`SendHalf::send`].
    pub fn send(&mut self, ty: BufferType, buffer: Option<SendBuffer>, context: usize) -> Result<()> {
        self.session()?;
        self.send.send(ty, buffer, context)
    }

    /// Queues a data message or fragment from an owned payload (convenience for `send`).
    pub fn send_data(&mut self, ty: BufferType, payload: impl Into<Payload>, context: usize) -> Result<()> {
        self.send(ty, Some(SendBuffer::Data(payload.into())), context)
    }

    /// `WebSocketReceive` with a NULL buffer: queues one receive.
    pub fn receive(&mut self, context: usize) -> Result<()> {
        self.session()?;
        self.recv.receive(context)
    }

    /// `WebSocketReceive` with a caller buffer.
    ///
    /// # Safety
    /// See [`ReceiveHalf::receive_into`].
    pub unsafe fn receive_into(&mut self, ptr: *mut u8, len: usize, context: usize) -> Result<()> {
        self.session()?;
        // SAFETY: forwarded contract.
        unsafe { self.recv.receive_into(ptr, len, context) }
    }

    /// `WebSocketGetAction` with two buffer slots.
    pub fn get_action(&mut self, queue: ActionQueue) -> Result<Action<'_>> {
        self.get_action_with_slots(queue, 2)
    }

    /// `WebSocketGetAction`: the next action of `queue`, using at most `slots` buffers.
    /// Under [`ActionQueue::All`] the two queues take turns; a failed receive side is
    /// reported first.
    pub fn get_action_with_slots(&mut self, queue: ActionQueue, slots: usize) -> Result<Action<'_>> {
        self.session()?;
        if slots == 0 {
            return Err(Misuse::InvalidArgument("no buffer slots").into());
        }
        match queue {
            ActionQueue::Send => self.send.get_action(slots),
            ActionQueue::Receive => self.recv.get_action(),
            ActionQueue::All => get_action_all(&mut self.send, &mut self.recv, &mut self.prefer_send, slots),
        }
    }

    /// `WebSocketCompleteAction`. Tokens of `NoAction`, stale tokens and repeated
    /// completions are ignored.
    pub fn complete_action(&mut self, token: ActionToken, bytes: usize) {
        self.complete_action_reclaim(token, bytes);
    }

    /// Like `complete_action`, giving back the payload when a send completes (to reuse an
    /// owned vector without allocating).
    pub fn complete_action_reclaim(&mut self, token: ActionToken, bytes: usize) -> Option<Payload> {
        match token.queue {
            QUEUE_SEND => self.send.complete(token, bytes),
            QUEUE_RECV => {
                self.recv.complete(token, bytes);
                None
            }
            _ => None,
        }
    }

    /// `WebSocketAbortHandle`: new sends and receives fail; queued ones come back as their
    /// `Indicate*Complete` actions, then `NoAction`. No effect before the handshake.
    pub fn abort(&mut self) {
        if self.session().is_ok() {
            self.send.shared.abort();
        }
    }

    /// True once aborted.
    pub fn is_aborted(&self) -> bool {
        self.send.shared.is_aborted()
    }

    /// True once a close frame was sent (its send accepted; [`SendHalf::is_close_sent`]).
    #[inline]
    pub fn is_close_sent(&self) -> bool {
        self.send.is_close_sent()
    }

    /// True once the peer's close frame was received and its receive completed
    /// ([`ReceiveHalf::is_close_received`]).
    #[inline]
    pub fn is_close_received(&self) -> bool {
        self.recv.is_close_received()
    }

    /// The send half.
    pub fn send_half(&mut self) -> &mut SendHalf {
        &mut self.send
    }

    /// The receive half.
    pub fn receive_half(&mut self) -> &mut ReceiveHalf {
        &mut self.recv
    }

    /// Splits an open handle into halves that can be used from two threads. They share
    /// the wire flag that keeps an automatic pong out of a data frame, the abort / close
    /// flags, and the slot of the ping whose pong is owed. Write whole `SendToNetwork`
    /// actions one at a time (one write lock): an automatic pong may be handed out while the
    /// other half's one-action frame is being written.
    pub fn split(mut self) -> Result<(SendHalf, ReceiveHalf)> {
        self.session()?;
        Ok((self.send, self.recv))
    }

    /// Rust-only: the protocol core of an open handle, for callers that do their own
    /// buffering and I/O instead of using the action queues (see [`proto`](crate::proto)):
    /// the encoder and decoder carry the role, masking, limits and the permessage-deflate
    /// state the handshake negotiated. Refused before the handshake completed or once
    /// anything was sent or received through the queues (their state would be lost).
    pub fn into_codec(mut self) -> Result<(Encoder, Decoder)> {
        self.session()?;
        if self.send.is_pending() || self.recv.is_pending() || self.recv.buffered() != 0 || self.recv.dec.in_frame() {
            return Err(Misuse::WrongState("the action queues are in use").into());
        }
        Ok((self.send.enc, self.recv.dec))
    }

    /// The permessage-deflate parameters in force, if it was negotiated.
    #[cfg(feature = "deflate")]
    pub fn deflate_params(&self) -> Option<&crate::deflate::DeflateParams> {
        self.deflate.as_ref()
    }
}

/// `WebSocketGetAction(ALL)` over split halves (both locked by the caller): a failed receive
/// side is reported first, then the queues take turns; `prefer_send` carries the turn.
pub fn get_action_all<'a>(
    send: &'a mut SendHalf,
    recv: &'a mut ReceiveHalf,
    prefer_send: &mut bool,
    slots: usize,
) -> Result<Action<'a>> {
    if slots == 0 {
        return Err(Misuse::InvalidArgument("no buffer slots").into());
    }
    if recv.error().is_some() && !recv.shared.is_aborted() {
        return recv.get_action();
    }
    let send_first = *prefer_send;
    for use_send in [send_first, !send_first] {
        if use_send && send.has_action() {
            *prefer_send = false;
            return send.get_action(slots);
        }
        if !use_send && recv.has_action() {
            *prefer_send = true;
            return recv.get_action();
        }
    }
    Ok(Action::NoAction)
}

impl SendHalf {
    /// `WebSocketCompleteAction` for a send-queue token; returns the payload once the send
    /// is complete.
    pub fn complete_action(&mut self, token: ActionToken, bytes: usize) -> Option<Payload> {
        self.complete(token, bytes)
    }

    /// `WebSocketAbortHandle` (affects both halves).
    pub fn abort(&self) {
        self.shared.abort();
    }
}

impl ReceiveHalf {
    /// `WebSocketCompleteAction` for a receive-queue token.
    pub fn complete_action(&mut self, token: ActionToken, bytes: usize) {
        self.complete(token, bytes)
    }

    /// `WebSocketAbortHandle` (affects both halves).
    pub fn abort(&self) {
        self.shared.abort();
    }
}
