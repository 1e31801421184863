//! Masking (RFC 6455 §5.3): XOR with a 4-byte key.
//!
//! On x86-64 CPUs with AVX2 (detected at run time; std caches the CPUID answer) buffers of
//! 32 bytes or more are XORed in 32-byte vectors. Elsewhere, and for shorter buffers, the
//! loops work on `u64` words (the baseline x86-64 build turns the 32-byte blocks into SSE2
//! XORs). `offset` is the position of `buf[0]` within the frame payload, so a payload
//! can be (un)masked in pieces.

/// The AVX2 loops need one whole vector.
#[cfg(target_arch = "x86_64")]
const SIMD_MIN: usize = 32;

/// Bit 7 of every byte of a word.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

#[inline]
fn rotated_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    // [key[r], key[r + 1], key[r + 2], key[r + 3]] (indices mod 4) for r = offset % 4.
    u32::from_le_bytes(key).rotate_right(8 * (offset % 4) as u32).to_le_bytes()
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
#[inline]
pub(crate) fn unmask_is_ascii(buf: &mut [u8], key: [u8; 4], offset: usize) -> bool {
    if key == [0; 4] {
        return buf.is_ascii();
    }
    mask_in_place(buf, rotated_key(key, offset)) & HIGH_BITS == 0
}

/// XORs `buf` with the already rotated key `k`. Returns a word whose `HIGH_BITS` are all
/// clear if and only if every resulting byte is ASCII.
#[inline]
fn mask_in_place(buf: &mut [u8], k: [u8; 4]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= SIMD_MIN && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above) and `buf` is at least 32 bytes.
        return unsafe { avx2::mask_in_place(buf, k) };
    }
    mask_words(buf, k)
}

/// The portable loop: 32-byte blocks of `u64` words, then words, then single bytes.
fn mask_words(buf: &mut [u8], k: [u8; 4]) -> u64 {
    let k32 = u32::from_ne_bytes(k);
    let k64 = (u64::from(k32) << 32) | u64::from(k32);
    let mut or = 0u64;
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes((&*word).try_into().expect("8-byte chunk")) ^ k64;
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
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
        or |= u64::from(*b);
    }
    or
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
        // SAFETY: the CPU supports AVX2 (checked just above); the lengths are equal and at
        // least 32.
        unsafe { avx2::copy_masked(dst, src, k) };
        return;
    }
    copy_masked_words(dst, src, k);
}

/// Appends `src` XORed with `key` from payload position `offset` to `out`: one pass over
/// the bytes (with AVX2, 32 bytes or more) instead of a copy and then an in-place unmask.
pub fn extend_masked(out: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    #[cfg(target_arch = "x86_64")]
    if key != [0; 4] && src.len() >= SIMD_MIN && std::is_x86_feature_detected!("avx2") {
        out.reserve(src.len());
        let at = out.len();
        // SAFETY: the CPU supports AVX2 (checked just above) and `src` is at least 32 bytes;
        // `reserve` made `at..at + src.len()` spare capacity of `out`, writable and disjoint
        // from `src` (borrowed while `out` is borrowed mutably). `copy_masked_raw` writes
        // every one of those bytes, so they are initialised before `set_len` counts them.
        unsafe {
            avx2::copy_masked_raw(out.as_mut_ptr().add(at), src, rotated_key(key, offset));
            out.set_len(at + src.len());
        }
        return;
    }
    let at = out.len();
    out.extend_from_slice(src);
    apply_mask(&mut out[at..], key, offset);
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

/// The AVX2 loops.
///
/// `copy_masked` stores aligned vectors: the first and last 32 bytes are one unaligned
/// vector each and the vectors in between are aligned in `dst` (where they overlap, both
/// write the same bytes; `src` is not written). In place, overlapping stores would need the
/// head and tail loaded before and stored after the body, and the validator reading the
/// bytes right after then stalls on store forwarding (measured: slower at 1 KiB); so
/// `mask_in_place` walks unaligned vectors from the start and masks the last < 32 bytes
/// with the word loop.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::rotated_key;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    fn key_vector(k: [u8; 4]) -> __m256i {
        _mm256_set1_epi32(i32::from_ne_bytes(k))
    }

    /// [`super::mask_in_place`] for `buf.len() >= 32`. Returns 0x80 if a resulting byte has
    /// bit 7 set, else 0.
    ///
    /// # Safety
    /// The CPU must support AVX2, and `buf` must be at least 32 bytes long.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn mask_in_place(buf: &mut [u8], k: [u8; 4]) -> u64 {
        let len = buf.len();
        let body = len & !31;
        let p = buf.as_mut_ptr();
        let kv = key_vector(k);
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        // SAFETY: every vector [i, i + 32) has i + 32 <= body <= len, inside `buf`, which is
        // borrowed mutably; loads and stores are unaligned.
        unsafe {
            while i + 128 <= body {
                let q = p.add(i).cast::<__m256i>();
                let v0 = _mm256_xor_si256(_mm256_loadu_si256(q), kv);
                let v1 = _mm256_xor_si256(_mm256_loadu_si256(q.add(1)), kv);
                let v2 = _mm256_xor_si256(_mm256_loadu_si256(q.add(2)), kv);
                let v3 = _mm256_xor_si256(_mm256_loadu_si256(q.add(3)), kv);
                _mm256_storeu_si256(q, v0);
                _mm256_storeu_si256(q.add(1), v1);
                _mm256_storeu_si256(q.add(2), v2);
                _mm256_storeu_si256(q.add(3), v3);
                acc = _mm256_or_si256(acc, _mm256_or_si256(_mm256_or_si256(v0, v1), _mm256_or_si256(v2, v3)));
                i += 128;
            }
            while i < body {
                let q = p.add(i).cast::<__m256i>();
                let v = _mm256_xor_si256(_mm256_loadu_si256(q), kv);
                _mm256_storeu_si256(q, v);
                acc = _mm256_or_si256(acc, v);
                i += 32;
            }
        }
        let high = if _mm256_movemask_epi8(acc) != 0 { 0x80 } else { 0 };
        high | super::mask_words(&mut buf[body..], k)
    }

    /// [`super::copy_masked`] for equal lengths of at least 32, aligned stores to `dst`.
    ///
    /// # Safety
    /// The CPU must support AVX2, and `dst` and `src` must be the same length, at least 32.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy_masked(dst: &mut [u8], src: &[u8], k: [u8; 4]) {
        debug_assert_eq!(src.len(), dst.len());
        // SAFETY: `dst` is `src.len()` writable bytes that cannot overlap `src` (one is
        // borrowed mutably, the other shared); the caller guarantees AVX2 and the length.
        unsafe { copy_masked_raw(dst.as_mut_ptr(), src, k) }
    }

    /// Writes `src` XORed with `k` to `d..d + src.len()`, which may be uninitialised.
    ///
    /// # Safety
    /// The CPU must support AVX2, `src.len() >= 32`, and `d..d + src.len()` must be valid
    /// for writes and not overlap `src`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy_masked_raw(d: *mut u8, src: &[u8], k: [u8; 4]) {
        let len = src.len();
        debug_assert!(len >= 32);
        let s = src.as_ptr();
        let head_len = (d as usize).wrapping_neg() & 31;
        let tail_at = len - 32;
        // SAFETY: `d..d + len` is writable and disjoint from `src` (the caller's contract)
        // and `s..s + len` is `src`, `len >= 32`: the head, tail and every body vector
        // [i, i + 32) with i + 32 <= len are inside both. Body stores are at `d + head_len`
        // (32-byte aligned) plus multiples of 32; loads from `src` are unaligned. Only
        // stores touch `d`, so uninitialised memory is never read.
        unsafe {
            let head = _mm256_xor_si256(_mm256_loadu_si256(s.cast()), key_vector(k));
            let tail = _mm256_xor_si256(_mm256_loadu_si256(s.add(tail_at).cast()), key_vector(rotated_key(k, tail_at)));
            _mm256_storeu_si256(d.cast(), head);
            _mm256_storeu_si256(d.add(tail_at).cast(), tail);
            let kv = key_vector(rotated_key(k, head_len));
            let mut i = head_len;
            while i + 128 <= len {
                let (dq, sq) = (d.add(i).cast::<__m256i>(), s.add(i).cast::<__m256i>());
                let v0 = _mm256_xor_si256(_mm256_loadu_si256(sq), kv);
                let v1 = _mm256_xor_si256(_mm256_loadu_si256(sq.add(1)), kv);
                let v2 = _mm256_xor_si256(_mm256_loadu_si256(sq.add(2)), kv);
                let v3 = _mm256_xor_si256(_mm256_loadu_si256(sq.add(3)), kv);
                _mm256_store_si256(dq, v0);
                _mm256_store_si256(dq.add(1), v1);
                _mm256_store_si256(dq.add(2), v2);
                _mm256_store_si256(dq.add(3), v3);
                i += 128;
            }
            while i + 32 <= len {
                let v = _mm256_xor_si256(_mm256_loadu_si256(s.add(i).cast()), kv);
                _mm256_store_si256(d.add(i).cast(), v);
                i += 32;
            }
        }
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
    fn extend_masked_appends_what_the_byte_loop_computes() {
        let key = [0x91, 0x0c, 0x5e, 0xa7];
        let data: Vec<u8> = (0..700u32).map(|i| (i * 13 + 5) as u8).collect();
        for prefix in [0usize, 1, 7, 33] {
            for len in (0..100).chain([255, 256, 257, 511, 640]) {
                for offset in 0..4 {
                    let src = &data[prefix..prefix + len];
                    let mut want = data[..prefix].to_vec();
                    want.extend_from_slice(src);
                    naive(&mut want[prefix..], key, offset);
                    // A vector with a prefix and little spare room: `extend_masked` grows it.
                    let mut out = Vec::with_capacity(prefix);
                    out.extend_from_slice(&data[..prefix]);
                    extend_masked(&mut out, src, key, offset);
                    assert_eq!(out, want, "prefix {prefix} len {len} offset {offset}");
                }
            }
        }
        // A zero key copies.
        let mut out = vec![1u8];
        extend_masked(&mut out, &data[..64], [0; 4], 3);
        assert_eq!(&out[1..], &data[..64]);
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
                    assert_eq!(mask_words(a, rotated_key(key, offset)) & HIGH_BITS == 0, src.is_ascii());
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
