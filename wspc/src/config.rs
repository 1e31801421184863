//! Handle configuration: the Windows properties (spec §4) plus the limits and extensions
//! wspc adds.

use crate::error::{Misuse, Result};
use crate::types::{PropertyType, PROTOCOL_VERSION};

/// Which side of the connection a handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Masks what it sends; expects unmasked frames.
    Client,
    /// Never masks; expects masked frames.
    Server,
}

/// The smallest receive buffer (spec §4).
pub const MIN_RECEIVE_BUFFER: u32 = 256;
/// The largest receive buffer wspc accepts (spec U16).
pub const MAX_RECEIVE_BUFFER: u32 = 1 << 20;
/// The smallest send buffer (spec §4: the server default, which .NET also uses for clients).
pub const MIN_SEND_BUFFER: u32 = 16;
/// The largest send buffer wspc accepts.
pub const MAX_SEND_BUFFER: u32 = 1 << 20;
/// Default receive buffer (spec §4).
pub const DEFAULT_RECEIVE_BUFFER: u32 = 4096;
/// Default client send buffer (spec §4).
pub const DEFAULT_CLIENT_SEND_BUFFER: u32 = 4096;
/// Default server send buffer (spec §4).
pub const DEFAULT_SERVER_SEND_BUFFER: u32 = 16;
/// Bytes beyond the receive and send buffers that a caller-allocated buffer must hold
/// (spec §4 and U17: what .NET passes, and enough for a contiguous pong frame).
pub const ALLOCATED_BUFFER_OVERHEAD: usize = 144;
/// Default keep-alive interval in milliseconds (spec §4).
pub const DEFAULT_KEEPALIVE_INTERVAL_MS: u32 = 30_000;
/// The smallest keep-alive interval (spec §4).
pub const MIN_KEEPALIVE_INTERVAL_MS: u32 = 15_000;

/// A property as passed to `WebSocketCreateClientHandle`/`WebSocketCreateServerHandle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property {
    /// `WEB_SOCKET_RECEIVE_BUFFER_SIZE_PROPERTY_TYPE`: at least 256 bytes.
    ReceiveBufferSize(u32),
    /// `WEB_SOCKET_SEND_BUFFER_SIZE_PROPERTY_TYPE`: at least 16 bytes.
    SendBufferSize(u32),
    /// `WEB_SOCKET_DISABLE_MASKING_PROPERTY_TYPE`: a client sends an all-zero mask key; a
    /// server accepts unmasked frames.
    DisableMasking(bool),
    /// `WEB_SOCKET_DISABLE_UTF8_VERIFICATION_PROPERTY_TYPE`.
    DisableUtf8Verification(bool),
    /// `WEB_SOCKET_KEEPALIVE_INTERVAL_PROPERTY_TYPE`: global only; refused by handles.
    KeepaliveInterval(u32),
    /// `WEB_SOCKET_SUPPORTED_VERSIONS_PROPERTY_TYPE`: global only; refused by handles.
    SupportedVersions,
}

impl Property {
    /// The Windows property type.
    pub fn property_type(&self) -> PropertyType {
        match self {
            Property::ReceiveBufferSize(_) => PropertyType::ReceiveBufferSize,
            Property::SendBufferSize(_) => PropertyType::SendBufferSize,
            Property::DisableMasking(_) => PropertyType::DisableMasking,
            Property::DisableUtf8Verification(_) => PropertyType::DisableUtf8Verification,
            Property::KeepaliveInterval(_) => PropertyType::KeepaliveInterval,
            Property::SupportedVersions => PropertyType::SupportedVersions,
        }
    }
}

/// Configuration of one handle. Start from [`Config::client`] or [`Config::server`]
/// (the Windows defaults), then adjust.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) role: Role,
    pub(crate) receive_buffer_size: u32,
    pub(crate) send_buffer_size: u32,
    pub(crate) disable_masking: bool,
    pub(crate) disable_utf8: bool,
    pub(crate) allocated: Option<(*mut u8, usize)>,
    pub(crate) max_message_size: Option<u64>,
    pub(crate) max_frame_size: Option<u64>,
    pub(crate) max_fragments: Option<u64>,
    pub(crate) deliver_pings: bool,
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<crate::deflate::DeflateConfig>,
}

// SAFETY: the only non-Send field is the caller-allocated buffer pointer, whose owner promised
// (in the unsafe `allocated_buffer`) that it stays valid and unused by others for the handle's
// life; the engine only touches it from the thread that holds the handle (or its halves).
unsafe impl Send for Config {}
// SAFETY: `Config` is never mutated through `&Config`; the pointer is only copied.
unsafe impl Sync for Config {}

impl Config {
    /// Windows' client defaults: 4096-byte receive and send buffers, masking and UTF-8
    /// checks on, no limits.
    pub fn client() -> Self {
        Self::new(Role::Client)
    }

    /// Windows' server defaults: 4096-byte receive buffer, 16-byte send buffer.
    pub fn server() -> Self {
        Self::new(Role::Server)
    }

    /// The defaults for `role`.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            receive_buffer_size: DEFAULT_RECEIVE_BUFFER,
            send_buffer_size: match role {
                Role::Client => DEFAULT_CLIENT_SEND_BUFFER,
                Role::Server => DEFAULT_SERVER_SEND_BUFFER,
            },
            disable_masking: false,
            disable_utf8: false,
            allocated: None,
            max_message_size: None,
            max_frame_size: None,
            max_fragments: None,
            deliver_pings: false,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Builds a configuration from Windows properties, refusing (not clamping) anything out
    /// of range or not valid for a handle.
    pub fn from_properties(role: Role, properties: &[Property]) -> Result<Self> {
        let mut c = Self::new(role);
        for p in properties {
            c = c.apply(*p)?;
        }
        Ok(c)
    }

    /// Applies one property.
    pub fn apply(self, p: Property) -> Result<Self> {
        match p {
            Property::ReceiveBufferSize(n) => self.receive_buffer_size(n),
            Property::SendBufferSize(n) => self.send_buffer_size(n),
            Property::DisableMasking(b) => Ok(self.disable_masking(b)),
            Property::DisableUtf8Verification(b) => Ok(self.disable_utf8_verification(b)),
            Property::KeepaliveInterval(_) => {
                Err(Misuse::InvalidProperty("the keep-alive interval is a global property").into())
            }
            Property::SupportedVersions => {
                Err(Misuse::InvalidProperty("the supported versions are a global property").into())
            }
        }
    }

    /// The side of this handle.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Receive buffer size: received data arrives in chunks no larger than this.
    pub fn receive_buffer_size(mut self, n: u32) -> Result<Self> {
        if !(MIN_RECEIVE_BUFFER..=MAX_RECEIVE_BUFFER).contains(&n) {
            return Err(Misuse::InvalidProperty("receive buffer size must be 256 to 1048576").into());
        }
        self.receive_buffer_size = n;
        Ok(self)
    }

    /// Send buffer size: how much masked payload one send action carries.
    pub fn send_buffer_size(mut self, n: u32) -> Result<Self> {
        if !(MIN_SEND_BUFFER..=MAX_SEND_BUFFER).contains(&n) {
            return Err(Misuse::InvalidProperty("send buffer size must be 16 to 1048576").into());
        }
        self.send_buffer_size = n;
        Ok(self)
    }

    /// Client: send an all-zero mask key (payload bytes unchanged, lent without copying).
    /// Server: accept unmasked frames. Security-sensitive (RFC 6455 §10.3).
    pub fn disable_masking(mut self, on: bool) -> Self {
        self.disable_masking = on;
        self
    }

    /// Do not check that text messages and close reasons are UTF-8.
    pub fn disable_utf8_verification(mut self, on: bool) -> Self {
        self.disable_utf8 = on;
        self
    }

    /// Largest message accepted (1009 beyond it); checked from frame headers before any
    /// memory is used. `None` (the Windows behaviour) means no limit: the engine streams
    /// messages in chunks, so its memory stays bounded either way.
    pub fn max_message_size(mut self, limit: Option<u64>) -> Self {
        self.max_message_size = limit;
        self
    }

    /// Largest frame accepted (1009 beyond it).
    pub fn max_frame_size(mut self, limit: Option<u64>) -> Self {
        self.max_frame_size = limit;
        self
    }

    /// Most frames one message may have (1009 beyond it).
    pub fn max_fragments(mut self, limit: Option<u64>) -> Self {
        self.max_fragments = limit;
        self
    }

    /// Rust-only, off by default (and never on through the C API, which has no such
    /// property: Windows reports nothing about received pings). When on, each received
    /// ping is also handed to the application: after its automatic pong was queued exactly
    /// as without this option (the same pong slot, newest ping wins), the receive
    /// completes with `IndicateReceiveComplete { buffer_type: PingPong, ping: true, .. }`
    /// whose data is the ping's payload. The application must not answer it itself: the
    /// engine already did.
    pub fn deliver_pings(mut self, on: bool) -> Self {
        self.deliver_pings = on;
        self
    }

    /// Turns on permessage-deflate (RFC 7692) for this handle's handshake. Not together with
    /// [`allocated_buffer`](Self::allocated_buffer): the handshake then fails with `E_INVALIDARG`.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, config: Option<crate::deflate::DeflateConfig>) -> Self {
        self.deflate = config;
        self
    }

    /// Makes the engine lend only memory inside `buf..buf+len` (plus the caller's own send
    /// payloads): `WEB_SOCKET_ALLOCATED_BUFFER_PROPERTY_TYPE`. It must be 8-byte aligned and
    /// at least receive + send + 144 bytes; set the buffer sizes first.
    ///
    /// # Safety
    /// `buf` must be valid for reads and writes of `len` bytes, and not used by anything else,
    /// until the handle (and both its halves) are dropped.
    pub unsafe fn allocated_buffer(mut self, buf: *mut u8, len: usize) -> Result<Self> {
        if buf.is_null() || (buf as usize) % 8 != 0 {
            return Err(Misuse::InvalidProperty("allocated buffer must be non-NULL and 8-byte aligned").into());
        }
        if len < self.allocated_buffer_needed() {
            return Err(Misuse::InvalidProperty("allocated buffer smaller than receive + send + 144 bytes").into());
        }
        self.allocated = Some((buf, len));
        Ok(self)
    }

    /// The size a caller-allocated buffer needs with the current buffer sizes.
    pub fn allocated_buffer_needed(&self) -> usize {
        self.receive_buffer_size as usize + self.send_buffer_size as usize + ALLOCATED_BUFFER_OVERHEAD
    }
}

/// `WebSocketGetGlobalProperty(KEEPALIVE_INTERVAL)`: 30000 ms, or `WSPC_KEEPALIVE_INTERVAL`
/// from the environment (Linux has no registry), raised to at least 15000.
pub fn keepalive_interval_ms() -> u32 {
    std::env::var("WSPC_KEEPALIVE_INTERVAL")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(DEFAULT_KEEPALIVE_INTERVAL_MS)
        .max(MIN_KEEPALIVE_INTERVAL_MS)
}

/// `WebSocketGetGlobalProperty(SUPPORTED_VERSIONS)`: `[13]`.
pub fn supported_versions() -> &'static [u32] {
    &[PROTOCOL_VERSION]
}
