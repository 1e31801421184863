//! Masking (RFC 6455 §5.3): XOR with a 4-byte key, word-wise.
//!
//! The loops work on 32-byte blocks of `u64` words, which LLVM turns into SIMD XORs on every
//! target with vector registers; no `unsafe` is needed. `offset` is the position of `buf[0]`
//! within the frame payload, so a payload can be (un)masked in pieces.

#[inline]
fn rotated_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let r = offset % 4;
    [key[r], key[(r + 1) % 4], key[(r + 2) % 4], key[(r + 3) % 4]]
}

/// XORs `buf` in place with `key`, starting at payload position `offset`.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if key == [0; 4] {
        return;
    }
    let k = rotated_key(key, offset);
    let k32 = u32::from_ne_bytes(k);
    let k64 = (u64::from(k32) << 32) | u64::from(k32);
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes(word.try_into().expect("8-byte chunk")) ^ k64;
            word.copy_from_slice(&v.to_ne_bytes());
        }
    }
    let rest = blocks.into_remainder();
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

/// Copies `src` into `dst` (same length) XORed with `key` from payload position `offset`.
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    assert_eq!(dst.len(), src.len());
    if key == [0; 4] {
        dst.copy_from_slice(src);
        return;
    }
    let k = rotated_key(key, offset);
    let k32 = u32::from_ne_bytes(k);
    let k64 = (u64::from(k32) << 32) | u64::from(k32);
    let mut d = dst.chunks_exact_mut(32);
    let mut s = src.chunks_exact(32);
    for (db, sb) in (&mut d).zip(&mut s) {
        for (dw, sw) in db.chunks_exact_mut(8).zip(sb.chunks_exact(8)) {
            let v = u64::from_ne_bytes(sw.try_into().expect("8-byte chunk")) ^ k64;
            dw.copy_from_slice(&v.to_ne_bytes());
        }
    }
    for (i, (db, sb)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        *db = sb ^ k[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_byte_loop_for_all_lengths_offsets_and_alignments() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for align in 0..8 {
            for len in 0..200 {
                for offset in 0..5 {
                    let src = &data[align..align + len];
                    let mut a = src.to_vec();
                    let mut b = src.to_vec();
                    apply_mask(&mut a, key, offset);
                    naive(&mut b, key, offset);
                    assert_eq!(a, b, "len {len} offset {offset}");
                    let mut c = vec![0; len];
                    copy_masked(&mut c, src, key, offset);
                    assert_eq!(c, b, "copy len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_whole() {
        let key = [1, 2, 3, 4];
        let mut whole: Vec<u8> = (0..100).collect();
        let mut pieces = whole.clone();
        apply_mask(&mut whole, key, 0);
        let (a, b) = pieces.split_at_mut(37);
        apply_mask(a, key, 0);
        apply_mask(b, key, 37);
        assert_eq!(whole, pieces);
    }
}
