//! WebSocket upgrades of hyper 1.x requests (feature `hyper`): the request is checked and
//! the subprotocol and permessage-deflate are negotiated by the same code as
//! [`crate::tokio::accept_with`] (the engine's), the `101` response is returned for hyper to
//! send, and the upgraded connection becomes a [`WebSocket`] with the negotiated extension
//! in force.
//!
//! ```no_run
//! # async fn f(mut req: http::Request<hyper::body::Incoming>) -> http::Response<String> {
//! use wspc_io::{hyper::upgrade, Accept, Config, Message};
//! let config = Config::default().deflate(true);
//! match upgrade(&mut req, Accept::default(), &config) {
//!     Ok((response, upgrading)) => {
//!         tokio::spawn(async move {
//!             let Ok(mut ws) = upgrading.await else { return };
//!             while let Some(Ok(msg)) = ws.recv().await {
//!                 if msg.is_data() && ws.send(msg).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!         response
//!     }
//!     Err(refused) => refused.response,
//! }
//! # }
//! ```

use crate::http::{answer, check_request, Refusal};
use crate::session::Session;
use crate::tokio::WebSocket;
use crate::{Accept, Config, Error, Result};
use ::http::{HeaderMap, Method, StatusCode, Version};
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// The upgraded connection under a [`WebSocket`] made by [`upgrade`].
pub type UpgradedIo = hyper_util::rt::TokioIo<::hyper::upgrade::Upgraded>;

/// A refused upgrade: the response to send instead of the `101` (400, 405, 426, the
/// handler's choice, ...) and why.
#[derive(Debug)]
pub struct Refused<B> {
    /// The HTTP response to send.
    pub response: ::http::Response<B>,
    /// Why.
    pub error: Error,
}

impl<B: From<String>> From<Box<Refusal>> for Box<Refused<B>> {
    fn from(r: Box<Refusal>) -> Self {
        let error = r.error.duplicate();
        Box::new(Refused { response: r.into_response(), error })
    }
}

/// The upgrade in progress: await it (after the `101` was returned to hyper) for the
/// WebSocket.
pub struct Upgrading {
    on_upgrade: ::hyper::upgrade::OnUpgrade,
    handle: Box<wspc::Handle>,
    config: Config,
    subprotocol: Option<String>,
}

impl std::fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrading").field("subprotocol", &self.subprotocol).finish_non_exhaustive()
    }
}

impl Upgrading {
    /// The subprotocol selected.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }
}

impl IntoFuture for Upgrading {
    type Output = Result<WebSocket<UpgradedIo>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let io = self.on_upgrade.await.map_err(|e| Error::Io(std::io::Error::other(e)))?;
            let io = hyper_util::rt::TokioIo::new(io);
            let s = Session::new(*self.handle, Vec::new(), self.config.write_buffer_size);
            Ok(WebSocket::from_session(io, s, &self.config, self.subprotocol))
        })
    }
}

/// Answers an upgrade request from its method, version and headers; `on_upgrade` is
/// hyper's handle on the connection.
pub(crate) fn negotiate(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    on_upgrade: ::hyper::upgrade::OnUpgrade,
    accept: Accept,
    config: &Config,
) -> std::result::Result<(HeaderMap, Upgrading), Box<Refusal>> {
    check_request(method, version, headers)?;
    let subprotocol = accept.subprotocol.clone();
    let (handle, response_headers) = answer(headers, accept, config, false)?;
    let upgrading = Upgrading { on_upgrade, handle: Box::new(handle), config: config.clone(), subprotocol };
    Ok((response_headers, upgrading))
}

/// The `101` response with `headers`.
pub(crate) fn switching<B: From<String>>(headers: HeaderMap) -> ::http::Response<B> {
    let mut r = ::http::Response::new(B::from(String::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *r.headers_mut() = headers;
    r
}

/// Upgrades `req` (from a hyper 1.x HTTP/1.1 server): checks it, selects what `accept`
/// says (a subprotocol among those offered, see [`crate::http::subprotocols`]; extra
/// headers), negotiates permessage-deflate when `config.deflate` is set, and returns the
/// `101` response to return from the service with the pending upgrade. A request that is
/// not a valid upgrade gets the response to send instead (400, 405, 426, 500).
pub fn upgrade<B, R: From<String>>(
    req: &mut ::http::Request<B>,
    accept: Accept,
    config: &Config,
) -> std::result::Result<(::http::Response<R>, Upgrading), Box<Refused<R>>> {
    let on_upgrade = ::hyper::upgrade::on(&mut *req);
    let (headers, upgrading) = negotiate(req.method(), req.version(), req.headers(), on_upgrade, accept, config)?;
    Ok((switching(headers), upgrading))
}
