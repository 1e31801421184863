//! An axum extractor for WebSocket upgrades (feature `axum`), over [`crate::hyper`]: the
//! subprotocol and permessage-deflate are negotiated by the engine, and the handler's
//! callback gets a [`WebSocket`] with the extension in force.
//!
//! ```no_run
//! use axum::{response::Response, routing::get, Router};
//! use wspc_io::axum::{WebSocket, WebSocketUpgrade};
//! use wspc_io::Config;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.config(Config::default().deflate(true)).on_upgrade(|mut ws: WebSocket| async move {
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if msg.is_data() && ws.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//! let app: Router = Router::new().route("/ws", get(ws));
//! ```

use crate::http::Refusal;
use crate::hyper::UpgradedIo;
use crate::{Accept, Config};
use ::http::request::Parts;
use ::http::{HeaderMap, Method, Version};
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use std::future::Future;

/// The WebSocket an axum handler gets.
pub type WebSocket = crate::tokio::WebSocket<UpgradedIo>;

/// A valid upgrade request (extracted from the request's parts): configure it, then
/// [`on_upgrade`](Self::on_upgrade) returns the response.
pub struct WebSocketUpgrade {
    method: Method,
    version: Version,
    headers: HeaderMap,
    on_upgrade: ::hyper::upgrade::OnUpgrade,
    config: Config,
    accept: Accept,
    protocols: Vec<String>,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("headers", &self.headers)
            .field("config", &self.config)
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

/// Not a WebSocket upgrade request: answered with 400, 405 or 426.
#[derive(Debug)]
pub struct UpgradeRejection(Response);

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        crate::http::check_request(&parts.method, parts.version, &parts.headers)
            .map_err(|r| UpgradeRejection(r.into_response()))?;
        let Some(on_upgrade) = parts.extensions.remove::<::hyper::upgrade::OnUpgrade>() else {
            let r = Refusal::internal("the connection cannot be upgraded\n", crate::Error::InvalidState("no upgrade"));
            return Err(UpgradeRejection(r.into_response()));
        };
        Ok(WebSocketUpgrade {
            method: parts.method.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
            on_upgrade,
            config: Config::default(),
            accept: Accept::default(),
            protocols: Vec::new(),
        })
    }
}

impl WebSocketUpgrade {
    /// The connection's settings (`Config::default().deflate(true)` to accept
    /// permessage-deflate).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols this server speaks: the first the client offers (in the client's
    /// order) is selected; none offered, none selected.
    pub fn protocols<I: IntoIterator<Item = P>, P: Into<String>>(mut self, protocols: I) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        let choice = crate::http::offered(&self.headers).find(|o| self.protocols.iter().any(|p| p == o));
        self.accept.subprotocol = choice.map(str::to_string);
        self
    }

    /// Adds a header to the `101` response.
    pub fn header<N, V>(mut self, name: N, value: V) -> Self
    where
        N: TryInto<::http::HeaderName>,
        V: TryInto<::http::HeaderValue>,
    {
        self.accept = self.accept.header(name, value);
        self
    }

    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The subprotocol that will be selected.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.accept.subprotocol.as_deref()
    }

    /// Answers the upgrade: returns the `101` response (or, if negotiation fails, the
    /// refusal) and runs `callback` with the WebSocket in a new task once hyper hands the
    /// connection over.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let negotiated = crate::hyper::negotiate(
            &self.method,
            self.version,
            &self.headers,
            self.on_upgrade,
            self.accept,
            &self.config,
        );
        match negotiated {
            Ok((headers, upgrading)) => {
                ::tokio::spawn(async move {
                    match upgrading.await {
                        Ok(ws) => callback(ws).await,
                        Err(e) => tracing::debug!(%e, "the upgraded connection was lost"),
                    }
                });
                crate::hyper::switching(headers)
            }
            Err(r) => r.into_response(),
        }
    }
}
