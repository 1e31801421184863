//! Wire codec: frame headers (RFC 6455 §5.2), masking (§5.3) and incremental UTF-8.

pub mod frame;
pub mod mask;
pub mod utf8;

use utf8::{InvalidUtf8, Utf8Validator};

/// Bytes unmasked and then validated at a time: small enough that a block is still in L1
/// when the validator reads it. Under the fuzzer it is small so that short inputs cross
/// block boundaries. A multiple of 4, so every block starts at the same key phase.
const FUSED_BLOCK: usize = if cfg!(fuzzing) { 96 } else { 8192 };
const _: () = assert!(FUSED_BLOCK % 4 == 0);

/// The receive step of a text payload: XORs `buf` in place with `key` from payload position
/// `offset` (a zero key leaves it as is) and feeds the unmasked bytes to `utf8`, block by
/// block while each is hot in cache. A block that unmasks to pure ASCII at a code point
/// boundary skips the validator. On `Err` some of `buf` may be left masked; the message
/// is invalid either way.
pub fn unmask_and_validate(
    buf: &mut [u8],
    key: [u8; 4],
    offset: usize,
    utf8: &mut Utf8Validator,
) -> Result<(), InvalidUtf8> {
    if buf.len() <= FUSED_BLOCK {
        if !mask::unmask_is_ascii(buf, key, offset) || utf8.pending() != 0 {
            utf8.feed(buf)?;
        }
        return Ok(());
    }
    for block in buf.chunks_mut(FUSED_BLOCK) {
        if !mask::unmask_is_ascii(block, key, offset) || utf8.pending() != 0 {
            utf8.feed(block)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 4] = [0x9c, 0x01, 0xfe, 0x80];

    /// Masks `plain`, then unmasks and validates it in the pieces `cuts` makes, as the
    /// engine does with reads of a frame; checks the bytes come back and the verdict is std's.
    fn check(plain: &[u8], cuts: &[usize]) {
        let mut buf = plain.to_vec();
        mask::apply_mask(&mut buf, KEY, 0);
        let mut v = Utf8Validator::new();
        let mut at = 0;
        let mut ok = true;
        let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(plain.len())).collect();
        ends.sort_unstable();
        ends.push(plain.len());
        for end in ends {
            if unmask_and_validate(&mut buf[at..end], KEY, at, &mut v).is_err() {
                ok = false;
                // The first invalid byte is in this piece: std agrees it is not valid up to
                // its end (an error later than the piece would be a late report).
                assert!(std::str::from_utf8(&plain[..end]).is_err_and(|e| e.error_len().is_some()));
                break;
            }
            assert_eq!(buf[at..end], plain[at..end], "unmasked bytes");
            at = end;
        }
        if ok {
            ok = v.finish().is_ok();
        }
        assert_eq!(ok, std::str::from_utf8(plain).is_ok(), "verdict at cuts {cuts:?}");
    }

    fn text(len: usize, every: usize) -> Vec<u8> {
        let mut s = String::new();
        let wide = ["ë", "€", "𝄞", "ó"];
        let mut i = 0;
        while s.len() < len {
            if i % every == every - 1 {
                s.push_str(wide[(i / every) % wide.len()]);
            } else {
                s.push((b'a' + (i % 26) as u8) as char);
            }
            i += 1;
        }
        s.into_bytes()
    }

    #[test]
    fn blocks_agree_with_std_around_block_boundaries() {
        let b = FUSED_BLOCK;
        for every in [7, 100_000] {
            let base = text(3 * b + 50, every);
            for at in [0, 1, b - 3, b - 2, b - 1, b, b + 1, 2 * b - 1, 2 * b, 3 * b + 10] {
                // A code point ending or starting right at the boundary, and invalid bytes there.
                let mut t = base.clone();
                t.truncate(at);
                t.extend_from_slice("𝄞".as_bytes());
                t.extend_from_slice(&base[..b + 7]);
                check(&t, &[]);
                check(&t, &[at + 1, at + 3]);
                for bad in [&b"\xc3"[..], b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xff"] {
                    let mut t = base.clone();
                    t.truncate(at);
                    t.extend_from_slice(bad);
                    check(&t, &[]);
                    t.extend_from_slice(&base[..b + 5]);
                    check(&t, &[]);
                    check(&t, &[at, at + 1, b + 9]);
                }
            }
        }
    }

    #[test]
    fn ascii_block_after_an_unfinished_code_point_is_an_error() {
        let mut t = vec![b'x'; FUSED_BLOCK - 1];
        t.push(0xc3);
        t.extend_from_slice(&[b'y'; 100]);
        let mut buf = t.clone();
        mask::apply_mask(&mut buf, KEY, 2);
        let mut v = Utf8Validator::new();
        assert_eq!(unmask_and_validate(&mut buf, KEY, 2, &mut v), Err(InvalidUtf8));
        // The same split across two calls: the ASCII call must not skip the check either.
        let mut buf = t.clone();
        let mut v = Utf8Validator::new();
        assert!(unmask_and_validate(&mut buf[..FUSED_BLOCK], [0; 4], 0, &mut v).is_ok());
        assert_eq!(v.pending(), 1);
        assert_eq!(unmask_and_validate(&mut buf[FUSED_BLOCK..], [0; 4], 0, &mut v), Err(InvalidUtf8));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn agrees_with_std(len in 0usize..20_000, every in 2usize..300, bad in proptest::option::of((0usize..20_000, any::<u8>())),
                           cuts in proptest::collection::vec(0usize..20_000, 0..4)) {
            let mut t = text(len, every);
            if let Some((at, byte)) = bad {
                if !t.is_empty() {
                    let at = at % t.len();
                    t[at] = byte;
                }
            }
            check(&t, &cuts);
        }
    }
}
