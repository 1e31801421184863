//! TLS with rustls: client configurations (web PKI roots, the system's trust store with
//! feature `native-roots`, or a given CA), server configurations from PEM (parsed by
//! `rustls-pki-types`), and the blocking [`TlsStream`]. Errors are typed
//! ([`TlsError`], with rustls' own error inside).

use crate::{Error, Result, TlsError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The crypto provider: aws-lc-rs (feature `aws-lc-rs`, the default: rustls' recommended
/// provider, with the post-quantum hybrid key exchange X25519MLKEM768 preferred), else
/// ring (feature `ring`).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    return Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    return Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    compile_error!("the `tls` feature needs a crypto provider: feature `aws-lc-rs` (default) or `ring`");
}

fn pem_err(e: impl std::fmt::Display) -> Error {
    Error::Tls(TlsError::Pem(e.to_string()))
}

/// A client configuration trusting the web PKI roots (Mozilla's, from `webpki-roots`).
pub fn default_client_config() -> Arc<rustls::ClientConfig> {
    static CFG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CFG.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("the provider supports the default versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    })
    .clone()
}

/// A client configuration trusting the operating system's certificate store (feature
/// `native-roots`: `rustls-native-certs`, e.g. `/etc/ssl/certs` on Debian), so that
/// corporate CAs installed there are trusted. Certificates the store holds but rustls
/// cannot parse are skipped; none at all is an error.
#[cfg(feature = "native-roots")]
pub fn native_roots_client_config() -> Result<Arc<rustls::ClientConfig>> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map_or_else(|| "no certificate found".to_string(), |e| e.to_string());
        return Err(Error::Tls(TlsError::Pem(format!("the system trust store: {why}"))));
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// A client configuration trusting only the CA certificates in `ca_pem`.
pub fn client_config_with_ca(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.map_err(pem_err)?)?;
    }
    if roots.is_empty() {
        return Err(pem_err("no certificate in the CA PEM"));
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// A server configuration from a PEM certificate chain and a PEM private key (PKCS#8,
/// PKCS#1 or SEC1).
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<_> =
        CertificateDer::pem_slice_iter(cert_pem).collect::<std::result::Result<_, _>>().map_err(pem_err)?;
    if certs.is_empty() {
        return Err(pem_err("no certificate in the certificate PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => pem_err("no private key in the key PEM"),
        e => pem_err(e),
    })?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A server configuration from PEM files.
pub fn server_config_from_pem_files(
    cert: impl AsRef<std::path::Path>,
    key: impl AsRef<std::path::Path>,
) -> Result<Arc<rustls::ServerConfig>> {
    server_config_from_pem(&std::fs::read(cert)?, &std::fs::read(key)?)
}

pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_string()).map_err(|e| Error::Tls(TlsError::ServerName(format!("{host}: {e}"))))
}

/// Blocking TLS over a `TcpStream`. Clones (see [`crate::blocking::SplitStream`]) share
/// the TLS state, so one clone can read while another writes from a second thread: a
/// reader waits for the socket without holding the state's lock.
pub struct TlsStream {
    conn: Arc<Mutex<rustls::Connection>>,
    sock: TcpStream,
    raw: Vec<u8>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").field("sock", &self.sock).finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<rustls::Connection>) -> MutexGuard<'_, rustls::Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn io_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Runs the client TLS handshake for `host`.
    pub fn connect(sock: TcpStream, host: &str, cfg: Arc<rustls::ClientConfig>) -> Result<Self> {
        let conn = rustls::ClientConnection::new(cfg, server_name(host)?)?;
        Self::handshake(sock, conn.into())
    }

    /// Runs the server TLS handshake.
    pub fn accept(sock: TcpStream, cfg: Arc<rustls::ServerConfig>) -> Result<Self> {
        let conn = rustls::ServerConnection::new(cfg)?;
        Self::handshake(sock, conn.into())
    }

    fn handshake(mut sock: TcpStream, mut conn: rustls::Connection) -> Result<Self> {
        while conn.is_handshaking() {
            match conn.complete_io(&mut sock) {
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(Error::HandshakeTimeout)
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(Error::from_tls_io(e)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Self { conn: Arc::new(Mutex::new(conn)), sock, raw: Vec::new() })
    }

    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    fn write_tls(conn: &mut rustls::Connection, mut sock: &TcpStream) -> io::Result<()> {
        while conn.wants_write() {
            conn.write_tls(&mut sock)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            {
                let mut c = lock(&self.conn);
                match c.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                Self::write_tls(&mut c, &self.sock)?;
            }
            // Wait for the socket without holding the TLS state.
            if self.raw.len() < 16 << 10 {
                self.raw.resize(16 << 10, 0);
            }
            let n = (&self.sock).read(&mut self.raw)?;
            let mut c = lock(&self.conn);
            let mut data = &self.raw[..n];
            if n == 0 {
                c.read_tls(&mut data)?;
                c.process_new_packets().map_err(io_err)?;
                continue;
            }
            while !data.is_empty() {
                c.read_tls(&mut data)?;
                if let Err(e) = c.process_new_packets() {
                    let _ = Self::write_tls(&mut c, &self.sock);
                    return Err(io_err(e));
                }
            }
            Self::write_tls(&mut c, &self.sock)?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut c = lock(&self.conn);
        let n = c.writer().write(buf)?;
        Self::write_tls(&mut c, &self.sock)?;
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut c = lock(&self.conn);
        let n = c.writer().write_vectored(bufs)?;
        Self::write_tls(&mut c, &self.sock)?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        let mut c = lock(&self.conn);
        c.writer().flush()?;
        Self::write_tls(&mut c, &self.sock)
    }
}

impl crate::blocking::Stream for TlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        self.sock.set_read_timeout(timeout)?;
        Ok(true)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        self.sock.set_write_timeout(timeout)?;
        Ok(true)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        {
            let mut c = lock(&self.conn);
            c.send_close_notify();
            let _ = Self::write_tls(&mut c, &self.sock);
        }
        match self.sock.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

impl crate::blocking::SplitStream for TlsStream {
    fn try_clone_stream(&self) -> io::Result<Self> {
        Ok(Self { conn: self.conn.clone(), sock: self.sock.try_clone()?, raw: Vec::new() })
    }
}
