//! The opening handshake through `Handle`: subprotocol and extension selection by index, and
//! the HRESULT for each kind of bad header.

mod common;
use common::*;
use wspc::hresult::{
    E_INVALIDARG, E_INVALID_PROTOCOL_FORMAT, E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED, E_PROTOCOL_VERSION_NOT_SUPPORTED,
    E_SUBPROTOCOL_NOT_SUPPORTED,
};
use wspc::{handshake::accept_key, Config, Error, Handle, HandshakeError, Header, OwnedHeader};

fn oh(name: &str, value: &str) -> OwnedHeader {
    OwnedHeader { name: name.into(), value: value.into() }
}

/// A client that began its handshake offering `protocols` and `extensions`, and the request
/// headers it produced (plus Host).
fn begin(protocols: &[&str], extensions: &[&str]) -> (Handle, Vec<OwnedHeader>) {
    let mut c = Handle::client(Config::client()).unwrap();
    let mut req = c.begin_client_handshake(protocols, extensions, &[]).unwrap().to_vec();
    req.push(oh("Host", "h"));
    (c, req)
}

/// The server's response for `req`, choosing `protocol` and `extensions`.
fn respond(req: &[OwnedHeader], protocol: Option<&str>, extensions: &[&str]) -> Vec<OwnedHeader> {
    let mut s = Handle::server(Config::server()).unwrap();
    s.begin_server_handshake(protocol, extensions, &hdrs(req)).unwrap().to_vec()
}

fn end(c: &mut Handle, resp: &[OwnedHeader]) -> Result<wspc::ClientHandshakeResult, Error> {
    c.end_client_handshake(&hdrs(resp))
}

#[test]
fn subprotocol_chosen_by_index() {
    let (mut c, req) = begin(&["chat", "superchat", "v3.proto"], &[]);
    assert_eq!(header(&req, "Sec-WebSocket-Protocol"), Some("chat, superchat, v3.proto"));
    let resp = respond(&req, Some("superchat"), &[]);
    assert_eq!(header(&resp, "Sec-WebSocket-Protocol"), Some("superchat"));
    let r = end(&mut c, &resp).unwrap();
    assert_eq!((r.subprotocol, r.extensions), (Some(1), vec![]));
    let (mut c, req) = begin(&["chat", "superchat", "v3.proto"], &[]);
    let r = end(&mut c, &respond(&req, Some("v3.proto"), &[])).unwrap();
    assert_eq!(r.subprotocol, Some(2));
}

#[test]
fn subprotocol_not_supported() {
    let (_, req) = begin(&["chat"], &[]);
    for bad in [
        respond(&req, Some("other"), &[]),
        respond(&req, None, &[]),
        [respond(&req, None, &[]), vec![oh("Sec-WebSocket-Protocol", "chat, chat")]].concat(),
        [respond(&req, None, &[]), vec![oh("Sec-WebSocket-Protocol", "")]].concat(),
    ] {
        // Each response is checked by a client that made the same offer with the same key.
        let (mut c2, req2) = begin(&["chat"], &[]);
        let key = header(&req2, "Sec-WebSocket-Key").unwrap().to_string();
        let fixed: Vec<OwnedHeader> = bad
            .iter()
            .map(
                |h| if h.name == "Sec-WebSocket-Accept" { oh(&h.name, &accept_key(key.as_bytes())) } else { h.clone() },
            )
            .collect();
        let e = end(&mut c2, &fixed).unwrap_err();
        assert_eq!(e, Error::Handshake(HandshakeError::SubprotocolNotSupported), "{fixed:?}");
        assert_eq!(e.hresult(), E_SUBPROTOCOL_NOT_SUPPORTED);
    }
    // A subprotocol answer when none was offered.
    let (mut c, req) = begin(&[], &[]);
    let resp = respond(&req, Some("chat"), &[]);
    assert_eq!(end(&mut c, &resp).unwrap_err().hresult(), E_SUBPROTOCOL_NOT_SUPPORTED);
}

#[test]
fn extension_indices() {
    let offered = ["x-foo", "x-bar; mode=1", "x-baz"];
    let (mut c, req) = begin(&[], &offered);
    assert_eq!(header(&req, "Sec-WebSocket-Extensions"), Some("x-foo, x-bar; mode=1, x-baz"));
    let resp = respond(&req, None, &["x-baz", "x-foo"]);
    assert_eq!(header(&resp, "Sec-WebSocket-Extensions"), Some("x-baz, x-foo"));
    let r = end(&mut c, &resp).unwrap();
    assert_eq!((r.subprotocol, r.extensions), (None, vec![2, 0]));
    // With parameters in the answer.
    let (mut c, req) = begin(&[], &offered);
    let r = end(&mut c, &respond(&req, None, &["x-bar; mode=2"])).unwrap();
    assert_eq!(r.extensions, [1]);
    // None accepted is fine.
    let (mut c, req) = begin(&[], &offered);
    assert_eq!(end(&mut c, &respond(&req, None, &[])).unwrap().extensions, Vec::<usize>::new());
}

#[test]
fn extensions_not_supported() {
    for answer in [&["x-unknown"][..], &["x-foo", "x-foo"], &["permessage-deflate"]] {
        let (mut c, req) = begin(&[], &["x-foo"]);
        let e = end(&mut c, &respond(&req, None, answer)).unwrap_err();
        assert_eq!(e, Error::Handshake(HandshakeError::ExtensionNotSupported), "{answer:?}");
        assert_eq!(e.hresult(), E_PROTOCOL_EXTENSIONS_NOT_SUPPORTED);
    }
}

#[test]
fn response_headers_checked() {
    type Edit = fn(&mut Vec<OwnedHeader>);
    let cases: [(Edit, HandshakeError); 7] = [
        (|v| v.retain(|h| h.name != "Upgrade"), HandshakeError::MissingHeader("Upgrade")),
        (|v| v.retain(|h| h.name != "Connection"), HandshakeError::MissingHeader("Connection")),
        (|v| v.retain(|h| h.name != "Sec-WebSocket-Accept"), HandshakeError::MissingHeader("Sec-WebSocket-Accept")),
        (|v| v[1].value = "h2c".into(), HandshakeError::InvalidHeader("Upgrade")),
        (|v| v[0].value = "close".into(), HandshakeError::InvalidHeader("Connection")),
        (|v| v[2].value = "ICX+Yqv66kxgM0FcWaLWlFLwTAI=".into(), HandshakeError::AcceptMismatch),
        (|v| v[2].value.insert(0, 'x'), HandshakeError::AcceptMismatch),
    ];
    for (edit, want) in cases {
        let (mut c, req) = begin(&[], &[]);
        let mut resp = respond(&req, None, &[]);
        edit(&mut resp);
        let e = end(&mut c, &resp).unwrap_err();
        assert_eq!(e, Error::Handshake(want.clone()));
        assert_eq!(e.hresult(), E_INVALID_PROTOCOL_FORMAT, "{want:?}");
        assert!(!c.is_open());
    }
    // Names and tokens are case-insensitive; whitespace is trimmed; lists are accepted.
    let (mut c, req) = begin(&[], &[]);
    let key = header(&req, "Sec-WebSocket-Key").unwrap().to_string();
    let resp = vec![
        oh("CONNECTION", " keep-alive ,  UPGRADE "),
        oh("upgrade", "WebSocket"),
        oh("sec-websocket-accept", &format!("  {}  ", accept_key(key.as_bytes()))),
    ];
    end(&mut c, &resp).unwrap();
    assert!(c.is_open());
}

fn request_with(edit: impl FnOnce(&mut Vec<OwnedHeader>)) -> Result<Vec<OwnedHeader>, Error> {
    let mut req = vec![
        oh("Host", ""),
        oh("Connection", "Upgrade"),
        oh("Upgrade", "websocket"),
        oh("Sec-WebSocket-Version", "13"),
        oh("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="),
    ];
    edit(&mut req);
    let mut s = Handle::server(Config::server()).unwrap();
    s.begin_server_handshake(None, &[], &hdrs(&req)).map(|h| h.to_vec())
}

#[test]
fn the_dotnet_dummy_request_is_accepted() {
    let resp = request_with(|_| {}).unwrap();
    assert_eq!(
        resp,
        [
            oh("Connection", "Upgrade"),
            oh("Upgrade", "websocket"),
            oh("Sec-WebSocket-Accept", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=")
        ]
    );
    let resp = request_with(|v| v[4].value = "dGhlIHNhbXBsZSBub25jZQ==".into()).unwrap();
    assert_eq!(header(&resp, "Sec-WebSocket-Accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

#[test]
fn request_headers_checked() {
    type Edit = fn(&mut Vec<OwnedHeader>);
    let format: [(Edit, HandshakeError); 8] = [
        (|v| v.retain(|h| h.name != "Host"), HandshakeError::MissingHeader("Host")),
        (|v| v.retain(|h| h.name != "Upgrade"), HandshakeError::MissingHeader("Upgrade")),
        (|v| v.retain(|h| h.name != "Connection"), HandshakeError::MissingHeader("Connection")),
        (|v| v.retain(|h| h.name != "Sec-WebSocket-Key"), HandshakeError::MissingHeader("Sec-WebSocket-Key")),
        (|v| v.retain(|h| h.name != "Sec-WebSocket-Version"), HandshakeError::MissingHeader("Sec-WebSocket-Version")),
        (|v| v[2].value = "h2c".into(), HandshakeError::InvalidHeader("Upgrade")),
        (|v| v[1].value = "keep-alive".into(), HandshakeError::InvalidHeader("Connection")),
        (|v| v[4].value = "AAAAAAAAAAAAAAAAAAAA".into(), HandshakeError::InvalidHeader("Sec-WebSocket-Key")),
    ];
    for (edit, want) in format {
        let e = request_with(edit).unwrap_err();
        assert_eq!(e, Error::Handshake(want.clone()));
        assert_eq!(e.hresult(), E_INVALID_PROTOCOL_FORMAT, "{want:?}");
    }
    for v in ["8", "12", "14", "", "13, 8"] {
        let e = request_with(|h| h[3].value = v.into()).unwrap_err();
        assert_eq!(e, Error::Handshake(HandshakeError::UnsupportedVersion), "{v:?}");
        assert_eq!(e.hresult(), E_PROTOCOL_VERSION_NOT_SUPPORTED);
    }
    // Browsers' list-valued Connection header and odd casing are fine.
    request_with(|v| {
        v[1].value = "keep-alive, Upgrade".into();
        v[2].name = "UPGRADE".into();
        v[2].value = "WebSocket".into();
    })
    .unwrap();
}

#[test]
fn bad_names_from_the_application_are_invalid_arguments() {
    let mut c = Handle::client(Config::client()).unwrap();
    for bad in ["", "two words", "a,b", "semi;colon"] {
        assert_eq!(c.begin_client_handshake(&[bad], &[], &[]).unwrap_err().hresult(), E_INVALIDARG, "{bad:?}");
    }
    assert_eq!(c.begin_client_handshake(&[], &["bad\r\nInjected: 1"], &[]).unwrap_err().hresult(), E_INVALIDARG);
    let mut s = Handle::server(Config::server()).unwrap();
    let req = [Header::new("Host", "")];
    assert_eq!(s.begin_server_handshake(Some("a b"), &[], &req).unwrap_err().hresult(), E_INVALIDARG);
    // The failed calls did not start a handshake: a good one still works.
    let (mut c, req) = begin(&["ok"], &[]);
    end(&mut c, &respond(&req, Some("ok"), &[])).unwrap();
}

#[test]
fn initial_headers_are_accepted_and_outputs_replace_them() {
    let mut c = Handle::client(Config::client()).unwrap();
    let initial = [Header::new("Connection", "Upgrade"), Header::new("Upgrade", "websocket")];
    let out = c.begin_client_handshake(&[], &[], &initial).unwrap().to_vec();
    assert_eq!(out.len(), 4);
    assert_eq!(c.handshake_headers().unwrap(), &out[..]);
}

/// RFC 8441 (WebSockets over an HTTP/2 extended CONNECT): no key, accept, Upgrade or
/// Connection; the version and the offers travel as over HTTP/1.1 and are negotiated by the
/// same rules.
#[test]
fn extended_connect_handshake() {
    let mut c = Handle::client(Config::client()).unwrap();
    let req = c.begin_client_handshake_extended(&["chat", "v2"], &["x-ext"]).unwrap().to_vec();
    let names: Vec<&str> = req.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Sec-WebSocket-Version", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"]);
    let mut s = Handle::server(Config::server()).unwrap();
    let resp = s.begin_server_handshake_extended(Some("v2"), &["x-ext"], &hdrs(&req)).unwrap().to_vec();
    assert_eq!(resp, [oh("Sec-WebSocket-Protocol", "v2"), oh("Sec-WebSocket-Extensions", "x-ext")]);
    s.end_server_handshake().unwrap();
    let r = end(&mut c, &resp).unwrap();
    assert_eq!((r.subprotocol, r.extensions), (Some(1), vec![0]));
    assert!(c.is_open() && s.is_open());

    // The selection is checked as over HTTP/1.1: a subprotocol that was not offered fails.
    let mut c = Handle::client(Config::client()).unwrap();
    c.begin_client_handshake_extended(&["chat"], &[]).unwrap();
    let bad = [oh("Sec-WebSocket-Protocol", "other")];
    assert_eq!(end(&mut c, &bad).unwrap_err().hresult(), E_SUBPROTOCOL_NOT_SUPPORTED);

    // The server requires version 13 and nothing of the HTTP/1.1 upgrade.
    let mut s = Handle::server(Config::server()).unwrap();
    let v8 = [oh("Sec-WebSocket-Version", "8")];
    assert_eq!(
        s.begin_server_handshake_extended(None, &[], &hdrs(&v8)).unwrap_err().hresult(),
        E_PROTOCOL_VERSION_NOT_SUPPORTED
    );
    let mut s = Handle::server(Config::server()).unwrap();
    assert!(s.begin_server_handshake_extended(None, &[], &[]).is_err(), "Sec-WebSocket-Version is required");
}

#[cfg(feature = "deflate")]
#[test]
fn extended_connect_negotiates_deflate() {
    let d = Some(wspc::deflate::DeflateConfig::default());
    let mut c = Handle::client(Config::client().deflate(d.clone())).unwrap();
    let req = c.begin_client_handshake_extended(&[], &[]).unwrap().to_vec();
    assert!(header(&req, "Sec-WebSocket-Extensions").is_some_and(|e| e.starts_with("permessage-deflate")));
    let mut s = Handle::server(Config::server().deflate(d)).unwrap();
    let resp = s.begin_server_handshake_extended(None, &[], &hdrs(&req)).unwrap().to_vec();
    s.end_server_handshake().unwrap();
    end(&mut c, &resp).unwrap();
    assert!(c.deflate_params().is_some() && s.deflate_params().is_some());
}
