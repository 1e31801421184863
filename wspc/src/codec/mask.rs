//! Masking (RFC 6455 §5.3): XOR with a 4-byte key.
//!
//! On x86-64 CPUs with AVX2 (detected at run time; std caches the CPUID answer) the loops XOR
//! aligned 32-byte vectors. Elsewhere, and for short buffers, they work on `u64` words, which
//! LLVM turns into the target's SIMD XORs. `offset` is the position of `buf[0]` within the
//! frame payload, so a payload can be (un)masked in pieces.

/// Below this length the word loop beats the AVX2 one (no alignment head, no dispatch).
const SIMD_MIN: usize = 64;

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
    mask_in_place(buf, rotated_key(key, offset));
}

/// XORs `buf` in place with `key` from payload position `offset` and tells whether every
/// resulting byte is ASCII (the unmask step of a text payload; a zero key only checks).
pub(crate) fn unmask_is_ascii(buf: &mut [u8], key: [u8; 4], offset: usize) -> bool {
    if key == [0; 4] {
        return buf.is_ascii();
    }
    mask_in_place(buf, rotated_key(key, offset)) < 0x80
}

/// XORs `buf` with the already rotated key `k`; returns the OR of the resulting bytes.
#[inline]
fn mask_in_place(buf: &mut [u8], k: [u8; 4]) -> u8 {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= SIMD_MIN && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { avx2::mask_in_place(buf, k) };
    }
    mask_words(buf, k)
}

/// The portable loop: 32-byte blocks of `u64` words, then single bytes.
fn mask_words(buf: &mut [u8], k: [u8; 4]) -> u8 {
    let k32 = u32::from_ne_bytes(k);
    let k64 = (u64::from(k32) << 32) | u64::from(k32);
    let mut or = 0u64;
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes(word.try_into().expect("8-byte chunk")) ^ k64;
            or |= v;
            word.copy_from_slice(&v.to_ne_bytes());
        }
    }
    let mut words = blocks.into_remainder().chunks_exact_mut(8);
    for word in &mut words {
        let v = u64::from_ne_bytes((&*word).try_into().expect("8-byte chunk")) ^ k64;
        or |= v;
        word.copy_from_slice(&v.to_ne_bytes());
    }
    let mut or8 = or.to_ne_bytes().iter().fold(0, |a, b| a | b);
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
        or8 |= *b;
    }
    or8
}

/// Copies `src` into `dst` (same length) XORed with `key` from payload position `offset`.
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], offset: usize) {
    assert_eq!(dst.len(), src.len());
    if key == [0; 4] {
        dst.copy_from_slice(src);
        return;
    }
    let k = rotated_key(key, offset);
    #[cfg(target_arch = "x86_64")]
    if dst.len() >= SIMD_MIN && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); the lengths are equal.
        unsafe { avx2::copy_masked(dst, src, k) };
        return;
    }
    copy_masked_words(dst, src, k);
}

/// The portable loop of [`copy_masked`].
fn copy_masked_words(dst: &mut [u8], src: &[u8], k: [u8; 4]) {
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

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{copy_masked_words, mask_words, rotated_key};
    use std::arch::x86_64::*;

    /// Horizontal OR of the bytes of `v`, as far as bit 7 goes: 0x80 if any byte has it.
    #[target_feature(enable = "avx2")]
    fn high_bit(v: __m256i) -> u8 {
        if _mm256_movemask_epi8(v) != 0 {
            0x80
        } else {
            0
        }
    }

    /// [`super::mask_in_place`] with 32-byte vectors: a word-loop head up to the first
    /// 32-byte-aligned address, an aligned vector loop, a word-loop tail. Returns the OR of
    /// the resulting bytes as far as bit 7 goes (all that callers look at).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn mask_in_place(buf: &mut [u8], k: [u8; 4]) -> u8 {
        let head_len = buf.as_ptr().align_offset(32).min(buf.len());
        let (head, rest) = buf.split_at_mut(head_len);
        let mut or = mask_words(head, k);
        let k = rotated_key(k, head_len);
        let kv = _mm256_set1_epi32(i32::from_ne_bytes(k));
        let body_len = rest.len() & !31;
        let (body, tail) = rest.split_at_mut(body_len);
        let mut acc = _mm256_setzero_si256();
        let mut blocks = body.chunks_exact_mut(128);
        for b in &mut blocks {
            let p = b.as_mut_ptr().cast::<__m256i>();
            // SAFETY: `b` is 128 bytes starting at a 32-byte-aligned address (`body` starts
            // at one and every block before this one is 128 bytes), so the four aligned
            // 32-byte loads and stores stay inside it; `b` is borrowed mutably.
            unsafe {
                let v0 = _mm256_xor_si256(_mm256_load_si256(p), kv);
                let v1 = _mm256_xor_si256(_mm256_load_si256(p.add(1)), kv);
                let v2 = _mm256_xor_si256(_mm256_load_si256(p.add(2)), kv);
                let v3 = _mm256_xor_si256(_mm256_load_si256(p.add(3)), kv);
                _mm256_store_si256(p, v0);
                _mm256_store_si256(p.add(1), v1);
                _mm256_store_si256(p.add(2), v2);
                _mm256_store_si256(p.add(3), v3);
                acc = _mm256_or_si256(acc, _mm256_or_si256(_mm256_or_si256(v0, v1), _mm256_or_si256(v2, v3)));
            }
        }
        for b in blocks.into_remainder().chunks_exact_mut(32) {
            let p = b.as_mut_ptr().cast::<__m256i>();
            // SAFETY: `b` is 32 bytes at a 32-byte-aligned address (128-byte blocks before
            // it), borrowed mutably: one aligned load and store.
            unsafe {
                let v = _mm256_xor_si256(_mm256_load_si256(p), kv);
                _mm256_store_si256(p, v);
                acc = _mm256_or_si256(acc, v);
            }
        }
        or |= high_bit(acc);
        // The body is a multiple of 4 bytes long: the key phase is unchanged at the tail.
        or | mask_words(tail, k)
    }

    /// [`super::copy_masked`] with 32-byte vectors, aligned stores to `dst`.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy_masked(dst: &mut [u8], src: &[u8], k: [u8; 4]) {
        let head_len = dst.as_ptr().align_offset(32).min(dst.len());
        let (dh, dst) = dst.split_at_mut(head_len);
        let (sh, src) = src.split_at(head_len);
        copy_masked_words(dh, sh, k);
        let k = rotated_key(k, head_len);
        let kv = _mm256_set1_epi32(i32::from_ne_bytes(k));
        let body_len = dst.len() & !31;
        let (db, dt) = dst.split_at_mut(body_len);
        let (sb, st) = src.split_at(body_len);
        let mut d = db.chunks_exact_mut(128);
        let mut s = sb.chunks_exact(128);
        for (d, s) in (&mut d).zip(&mut s) {
            let (dp, sp) = (d.as_mut_ptr().cast::<__m256i>(), s.as_ptr().cast::<__m256i>());
            // SAFETY: `d` and `s` are 128 bytes each, `d` 32-byte aligned (it starts at an
            // aligned address and every block before it is 128 bytes): four unaligned loads
            // and four aligned stores stay in bounds; `d` is borrowed mutably.
            unsafe {
                let v0 = _mm256_xor_si256(_mm256_loadu_si256(sp), kv);
                let v1 = _mm256_xor_si256(_mm256_loadu_si256(sp.add(1)), kv);
                let v2 = _mm256_xor_si256(_mm256_loadu_si256(sp.add(2)), kv);
                let v3 = _mm256_xor_si256(_mm256_loadu_si256(sp.add(3)), kv);
                _mm256_store_si256(dp, v0);
                _mm256_store_si256(dp.add(1), v1);
                _mm256_store_si256(dp.add(2), v2);
                _mm256_store_si256(dp.add(3), v3);
            }
        }
        for (d, s) in d.into_remainder().chunks_exact_mut(32).zip(s.remainder().chunks_exact(32)) {
            // SAFETY: 32 bytes each, `d` aligned and borrowed mutably (as above).
            unsafe {
                let v = _mm256_xor_si256(_mm256_loadu_si256(s.as_ptr().cast()), kv);
                _mm256_store_si256(d.as_mut_ptr().cast(), v);
            }
        }
        copy_masked_words(dt, st, k);
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
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        // 32-byte-aligned storage, so `align` really is the address modulo 32.
        let mut store = vec![0u64; 128];
        let base = store.as_ptr().align_offset(32) / 8;
        for align in 0..33 {
            for len in 0..300 {
                for offset in 0..5 {
                    let src = &data[align..align + len];
                    let mut b = src.to_vec();
                    naive(&mut b, key, offset);
                    let bytes: &mut [u8] = bytemuck_u8(&mut store[base..]);
                    let a = &mut bytes[align..align + len];
                    a.copy_from_slice(src);
                    apply_mask(a, key, offset);
                    assert_eq!(a, &b[..], "len {len} offset {offset} align {align}");
                    a.copy_from_slice(src);
                    assert_eq!(unmask_is_ascii(a, key, offset), b.is_ascii());
                    assert_eq!(a, &b[..]);
                    a.fill(0);
                    copy_masked(a, src, key, offset);
                    assert_eq!(a, &b[..], "copy len {len} offset {offset} align {align}");
                    assert_eq!(mask_words(a, rotated_key(key, offset)), src.iter().fold(0, |x, y| x | y));
                    copy_masked_words(a, src, rotated_key(key, offset));
                    assert_eq!(a, &b[..], "portable copy len {len} offset {offset}");
                }
            }
        }
    }

    fn bytemuck_u8(words: &mut [u64]) -> &mut [u8] {
        let len = words.len() * 8;
        // SAFETY: a `u64` slice is `len` initialised bytes with no padding, any byte value is
        // a valid `u8`, and the returned borrow keeps `words` borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
    }

    #[test]
    fn ascii_check_sees_a_single_high_bit_anywhere() {
        let key = [0x11, 0x22, 0x33, 0x44];
        for len in [1usize, 31, 64, 65, 200, 1000] {
            for pos in [0, len / 3, len - 1] {
                let mut plain = vec![b'a'; len];
                plain[pos] = 0xc3;
                let mut m = plain.clone();
                naive(&mut m, key, 1);
                assert!(!unmask_is_ascii(&mut m, key, 1), "len {len} pos {pos}");
                assert_eq!(m, plain);
                assert!(!unmask_is_ascii(&mut plain, [0; 4], 0));
            }
        }
    }

    #[test]
    fn zero_key_leaves_bytes_alone() {
        let mut a: Vec<u8> = (0..100).collect();
        apply_mask(&mut a, [0; 4], 3);
        assert_eq!(a, (0..100).collect::<Vec<u8>>());
        let mut c = vec![0; 100];
        copy_masked(&mut c, &a, [0; 4], 1);
        assert_eq!(c, a);
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_byte_loop(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2000),
                                 key in proptest::array::uniform4(proptest::num::u8::ANY),
                                 offset in 0usize..8, start in 0usize..40) {
            let start = start.min(data.len());
            let src = &data[start..];
            let mut b = src.to_vec();
            if key != [0; 4] {
                naive(&mut b, key, offset);
            }
            let mut a = src.to_vec();
            apply_mask(&mut a, key, offset);
            proptest::prop_assert_eq!(&a, &b);
            let mut a = src.to_vec();
            proptest::prop_assert_eq!(unmask_is_ascii(&mut a, key, offset), b.is_ascii());
            proptest::prop_assert_eq!(&a, &b);
            let mut c = vec![0; src.len()];
            copy_masked(&mut c, src, key, offset);
            proptest::prop_assert_eq!(&c, &b);
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
