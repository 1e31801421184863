//! `wspc serve` over HTTP/2 (a TLS connection whose ALPN chose `h2`): the demo page and
//! the other plain answers as over HTTP/1.1, and WebSockets as RFC 8441 extended CONNECT
//! streams ([`wspc_io::h2`]), each run by the same admission and session code as an
//! HTTP/1.1 upgrade. Shutdown sends GOAWAY and closes every WebSocket with 1001.

use crate::serve::{plain_answer, run_session, Admission, Ctx};
use crate::stop::Stop;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use tracing::{info, warn};
use wspc_io::h2::{HttpRequest, Incoming, ServerConnection};

/// Serves one HTTP/2 connection until the client ends it, or shutdown (then until its
/// WebSockets have closed).
pub(crate) async fn connection<S>(io: S, peer: SocketAddr, ctx: &Arc<Ctx>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = match ServerConnection::handshake(io, &ctx.config).await {
        Ok(c) => c,
        Err(e) => return warn!(peer = %peer, "HTTP/2 handshake failed: {e}"),
    };
    let mut streams = JoinSet::new();
    let mut stop = Stop::new(&ctx.conns);
    let mut stopping = false;
    let mut conn_done = false;
    // The connection's frames move only while it is polled: poll it until it ends, and
    // until its WebSockets have finished (they see its end as an error).
    while !(conn_done && streams.is_empty()) {
        let next = tokio::select! {
            n = conn.accept(), if !conn_done => n,
            _ = stop.stopped(), if !stopping => {
                stopping = true;
                conn.graceful_shutdown();
                continue;
            }
            Some(_) = streams.join_next(), if !streams.is_empty() => continue,
        };
        match next {
            None => conn_done = true,
            Some(Err(e)) => {
                warn!(peer = %peer, "HTTP/2: {e}");
                conn_done = true;
            }
            Some(Ok(Incoming::Http(r))) => answer(r, peer),
            Some(Ok(Incoming::WebSocket(r))) => {
                let ctx = ctx.clone();
                streams.spawn(async move {
                    let id = r.stream_id();
                    let mut adm = Admission::new(peer, &ctx).await;
                    match r.accept_with(&ctx.config, |req| adm.decide(req, &ctx)) {
                        Ok(ws) => {
                            let mode = adm.start(peer, &ctx, &format!("h2 (extended CONNECT, stream {id})"));
                            run_session(ws, peer, &ctx, mode).await
                        }
                        Err(e) => warn!("handshake failed peer={peer} via=h2: {e}"),
                    }
                });
            }
        }
    }
}

fn answer(r: HttpRequest, peer: SocketAddr) {
    let (method, path) = (r.request().method().to_string(), r.request().uri().path().to_string());
    let (status, ctype, body, extra) = plain_answer(&method, &path);
    info!("http peer={peer} {method} {path} {} via=h2", &status[..3]);
    let code: u16 = status[..3].parse().unwrap_or(500);
    let mut headers =
        vec![("content-type", ctype), ("cache-control", "no-store"), ("x-content-type-options", "nosniff")];
    if !extra.is_empty() {
        headers.push(("allow", "GET, HEAD"));
    }
    let body = if method == "HEAD" { "" } else { body };
    if let Err(e) = r.respond(code, &headers, body.as_bytes()) {
        warn!(peer = %peer, "HTTP/2 response: {e}");
    }
}
