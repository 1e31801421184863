//! Message payloads: [`Payload`] (bytes) and [`Utf8Payload`] (text). Each holds either a
//! vector (what a received message is assembled in: an echo sends it back and it is
//! reused, so steady traffic allocates nothing per message) or a shared [`Bytes`] (what an
//! application fans out: cloning one is a reference count, not a copy). Both convert to and
//! from `Bytes`, `Vec<u8>` and (for text) `String` without copying the bytes: a vector
//! becomes `Bytes` by `Bytes::from(Vec)`, which keeps the vector's memory (and, unless the
//! vector is exactly full, adds a small shared header).

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// The bytes of a binary message, ping or pong.
#[derive(Clone, Default)]
pub struct Payload(Repr);

#[derive(Clone)]
enum Repr {
    Vec(Vec<u8>),
    Shared(Bytes),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Shared(Bytes::new())
    }
}

impl Payload {
    /// An empty payload.
    pub const fn new() -> Self {
        Payload(Repr::Shared(Bytes::new()))
    }

    /// A payload of static bytes (no allocation, no copy).
    pub const fn from_static(b: &'static [u8]) -> Self {
        Payload(Repr::Shared(Bytes::from_static(b)))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Vec(v) => v,
            Repr::Shared(b) => b,
        }
    }

    /// As `Bytes`, without copying the bytes (see the module docs).
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Vec(v) => Bytes::from(v),
            Repr::Shared(b) => b,
        }
    }

    /// As a vector: without copying when this payload is a vector or the only reference to
    /// its `Bytes`, copied otherwise.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Vec(v) => v,
            Repr::Shared(b) => Vec::from(b),
        }
    }

    /// Turns a vector payload into shared bytes in place (see [`Payload::into_bytes`]), so
    /// that clones are reference counts; returns them.
    pub fn share(&mut self) -> &Bytes {
        if let Repr::Vec(v) = &mut self.0 {
            self.0 = Repr::Shared(Bytes::from(std::mem::take(v)));
        }
        match &self.0 {
            Repr::Shared(b) => b,
            Repr::Vec(_) => unreachable!("made shared above"),
        }
    }

    /// The vector, when this payload is one (for reuse after a send).
    pub(crate) fn vec_or_bytes(self) -> Result<Vec<u8>, Bytes> {
        match self.0 {
            Repr::Vec(v) => Ok(v),
            Repr::Shared(b) => Err(b),
        }
    }
}

impl Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rendered as `Bytes` renders (b"..." with escapes).
        fmt::Debug::fmt(&EscapedBytes(self.as_slice()), f)
    }
}

struct EscapedBytes<'a>(&'a [u8]);

impl fmt::Debug for EscapedBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.0 {
            match b {
                b'\n' => f.write_str("\\n")?,
                b'\r' => f.write_str("\\r")?,
                b'\t' => f.write_str("\\t")?,
                b'\\' | b'"' => write!(f, "\\{}", b as char)?,
                0x20..=0x7e => write!(f, "{}", b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for Payload {}

impl PartialEq<[u8]> for Payload {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}
impl PartialEq<&[u8]> for Payload {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}
impl PartialEq<Vec<u8>> for Payload {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(Repr::Vec(v))
    }
}
impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload(Repr::Shared(b))
    }
}
impl From<bytes::BytesMut> for Payload {
    fn from(b: bytes::BytesMut) -> Self {
        Payload(Repr::Shared(b.freeze()))
    }
}
impl From<&[u8]> for Payload {
    fn from(b: &[u8]) -> Self {
        Payload(Repr::Vec(b.to_vec()))
    }
}
impl<const N: usize> From<&[u8; N]> for Payload {
    fn from(b: &[u8; N]) -> Self {
        Payload(Repr::Vec(b.to_vec()))
    }
}
impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload(Repr::Vec(s.into_bytes()))
    }
}
impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload(Repr::Vec(s.as_bytes().to_vec()))
    }
}
impl From<Payload> for Bytes {
    fn from(p: Payload) -> Self {
        p.into_bytes()
    }
}
impl From<Payload> for Vec<u8> {
    fn from(p: Payload) -> Self {
        p.into_vec()
    }
}

/// The text of a text message: [`Payload`] known to be UTF-8. Derefs to `str`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Utf8Payload(Payload);

impl Utf8Payload {
    /// An empty text.
    pub const fn new() -> Self {
        Utf8Payload(Payload::new())
    }

    /// A static text (no allocation, no copy).
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Payload(Payload::from_static(s.as_bytes()))
    }

    /// Bytes known to be UTF-8.
    ///
    /// # Safety
    /// `v` must be valid UTF-8 (`as_str` relies on it).
    pub(crate) unsafe fn from_vec_unchecked(v: Vec<u8>) -> Self {
        debug_assert!(std::str::from_utf8(&v).is_ok());
        Utf8Payload(Payload::from(v))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor takes a `str`/`String` or checks UTF-8
        // (`TryFrom<Bytes>`), or is given text the engine validated (`from_vec_unchecked`).
        unsafe { std::str::from_utf8_unchecked(self.0.as_slice()) }
    }

    /// The bytes, as a [`Payload`].
    pub fn into_payload(self) -> Payload {
        self.0
    }

    /// As `Bytes` without copying (see [`Payload::into_bytes`]).
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// As a `String` (without copying when [`Payload::into_vec`] does not copy).
    pub fn into_string(self) -> String {
        // SAFETY: the bytes are UTF-8 (see `as_str`).
        unsafe { String::from_utf8_unchecked(self.0.into_vec()) }
    }

    /// Makes clones cheap (see [`Payload::share`]).
    pub fn share(&mut self) -> &Bytes {
        self.0.share()
    }
}

impl Deref for Utf8Payload {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Payload {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for Utf8Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Utf8Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Utf8Payload {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Utf8Payload {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl PartialEq<String> for Utf8Payload {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl From<String> for Utf8Payload {
    fn from(s: String) -> Self {
        Utf8Payload(Payload::from(s.into_bytes()))
    }
}
impl From<&str> for Utf8Payload {
    fn from(s: &str) -> Self {
        Utf8Payload(Payload::from(s.as_bytes().to_vec()))
    }
}
impl From<&String> for Utf8Payload {
    fn from(s: &String) -> Self {
        s.as_str().into()
    }
}

/// Bytes that are not UTF-8, given back.
#[derive(Debug)]
pub struct NotUtf8(pub Bytes);

impl fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the bytes are not UTF-8")
    }
}

impl std::error::Error for NotUtf8 {}

impl TryFrom<Bytes> for Utf8Payload {
    type Error = NotUtf8;
    fn try_from(b: Bytes) -> Result<Self, NotUtf8> {
        match std::str::from_utf8(&b) {
            Ok(_) => Ok(Utf8Payload(Payload::from(b))),
            Err(_) => Err(NotUtf8(b)),
        }
    }
}

impl From<Utf8Payload> for Bytes {
    fn from(t: Utf8Payload) -> Self {
        t.into_bytes()
    }
}
impl From<Utf8Payload> for String {
    fn from(t: Utf8Payload) -> Self {
        t.into_string()
    }
}
impl From<Utf8Payload> for Payload {
    fn from(t: Utf8Payload) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_keep_the_memory() {
        let v = vec![1u8, 2, 3];
        let at = v.as_ptr();
        let b = Payload::from(v).into_bytes();
        assert_eq!(b.as_ptr(), at, "Vec -> Bytes copies nothing");
        let p = Payload::from(b.clone());
        assert_eq!(p.as_ptr(), at, "Bytes -> Payload copies nothing");
        drop(b);
        let back = p.into_vec();
        assert_eq!(back.as_ptr(), at, "the only reference goes back to a Vec in place");
        let mut t = Utf8Payload::from(String::from("héllo"));
        let shared = t.share().clone();
        assert_eq!(shared.as_ptr(), t.as_ptr());
        assert_eq!(t, "héllo");
        assert!(Utf8Payload::try_from(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(Utf8Payload::try_from(Bytes::from_static(b"ok")).unwrap(), "ok");
        assert_eq!(format!("{:?}", Payload::from(&b"a\n\xff"[..])), "b\"a\\n\\xff\"");
        assert_eq!(Utf8Payload::from_static("static").as_str(), "static");
    }
}
