//! Incremental UTF-8 validation across chunk and frame boundaries.
//!
//! Bulk validation uses `simdutf8`; only a code point split across two calls is checked with
//! the 4-byte slow path. An invalid byte is reported as soon as it is seen: a truncated
//! sequence is accepted only while it is still a valid prefix.

/// Validator state: the bytes of a code point that is not complete yet.
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

/// The input is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

/// Where a code point that `data` does not finish starts (its lead byte is among the last
/// three bytes), or `data.len()`.
fn unfinished_tail(data: &[u8]) -> usize {
    let n = data.len();
    for back in 1..=n.min(3) {
        let b = data[n - back];
        if b & 0xc0 != 0x80 {
            // The last byte that is not a continuation: its sequence is unfinished if longer.
            return if sequence_len(b) > back { n - back } else { n };
        }
    }
    n
}

impl Utf8Validator {
    /// A validator at a code point boundary.
    pub const fn new() -> Self {
        Self { partial: [0; 4], partial_len: 0 }
    }

    /// Bytes of an unfinished code point carried from earlier input.
    pub fn pending(&self) -> usize {
        self.partial_len as usize
    }

    /// Forgets any state (start of a new message).
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Validates the next bytes of the stream. An unfinished code point at the end is kept
    /// (and counted by [`pending`](Self::pending)) if it is a valid prefix.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = self.partial_len as usize;
            let need = sequence_len(self.partial[0]);
            let take = (need - have).min(data.len());
            self.partial[have..have + take].copy_from_slice(&data[..take]);
            let now = have + take;
            match std::str::from_utf8(&self.partial[..now]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {
                    self.partial_len = now as u8;
                    return Ok(());
                }
            }
            data = &data[take..];
        }
        // Set an unfinished code point at the end aside, so that one pass of the fast
        // validator decides the rest: a read often ends inside a code point.
        if data.last().is_none_or(|&b| b < 0x80) {
            // Ends in ASCII (or is empty): nothing to set aside.
            return simdutf8::basic::from_utf8(data).map(|_| ()).map_err(|_| InvalidUtf8);
        }
        let (body, tail) = data.split_at(unfinished_tail(data));
        if simdutf8::basic::from_utf8(body).is_err() {
            // `body` ends at a code point boundary or before a lead byte: the error is real.
            return Err(InvalidUtf8);
        }
        if tail.is_empty() {
            return Ok(());
        }
        match std::str::from_utf8(tail) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(_) => {
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the message: an unfinished code point is an error.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let ok = self.partial_len == 0;
        self.partial_len = 0;
        if ok {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) -> bool {
        let expected = std::str::from_utf8(bytes).is_ok();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Validator::new();
                let r = v
                    .feed(&bytes[..i])
                    .and_then(|_| v.feed(&bytes[i..j]))
                    .and_then(|_| v.feed(&bytes[j..]))
                    .and_then(|_| v.finish());
                assert_eq!(r.is_ok(), expected, "{bytes:x?} split at {i},{j}");
            }
        }
        expected
    }

    #[test]
    fn agrees_with_std_at_every_split() {
        assert!(check_all_splits("κόσμε €𝄞".as_bytes()));
        assert!(!check_all_splits(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"));
        assert!(!check_all_splits(b"\xf4\x90\x80\x80"));
        assert!(!check_all_splits(b"ab\xc0\xaf"));
        assert!(!check_all_splits(b"\xe2\x82"));
    }

    #[test]
    fn every_short_sequence_at_every_split_agrees_with_std() {
        // All 1- and 2-byte inputs and 3- and 4-byte ones over the interesting bytes, behind
        // nothing, ASCII and a 3-byte character, fed in every split.
        let interesting = [
            0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
            0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
        ];
        let mut cases: Vec<Vec<u8>> = (0..=0xffu8).map(|a| vec![a]).collect();
        for a in 0..=0xffu8 {
            for b in 0..=0xffu8 {
                cases.push(vec![a, b]);
            }
        }
        for &a in &interesting {
            for &b in &interesting {
                for &c in &interesting {
                    cases.push(vec![a, b, c]);
                    cases.push(vec![0xf0, a, b, c]);
                }
            }
        }
        for case in cases {
            for prefix in [&b""[..], b"abc", "€".as_bytes()] {
                let bytes = [prefix, &case].concat();
                let expected = std::str::from_utf8(&bytes).is_ok();
                for i in 0..=bytes.len() {
                    let mut v = Utf8Validator::new();
                    let r = v.feed(&bytes[..i]).and_then(|_| v.feed(&bytes[i..])).and_then(|_| v.finish());
                    assert_eq!(r.is_ok(), expected, "{bytes:x?} split at {i}");
                    // No error before the first byte std rejects.
                    let mut v = Utf8Validator::new();
                    if v.feed(&bytes[..i]).is_err() {
                        let e = std::str::from_utf8(&bytes[..i]).unwrap_err();
                        assert!(e.error_len().is_some(), "{bytes:x?} rejected early at {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_prefix_fails_before_the_sequence_ends() {
        let mut v = Utf8Validator::new();
        v.feed(b"ok\xf4").unwrap();
        assert_eq!(v.pending(), 1);
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
    }
}
