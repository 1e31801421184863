//! Frame headers (RFC 6455 §5.2).
//!
//! ```text
//!  0               1               2               3
//!  0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! ```

use crate::error::ProtocolError;

/// The longest frame header: 2 + 8 (length) + 4 (mask key).
pub const MAX_HEADER_LEN: usize = 14;

/// Frame opcodes (RFC 6455 §5.2, §11.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0
    Continuation = 0x0,
    /// 0x1
    Text = 0x1,
    /// 0x2
    Binary = 0x2,
    /// 0x8
    Close = 0x8,
    /// 0x9
    Ping = 0x9,
    /// 0xA
    Pong = 0xA,
}

impl OpCode {
    /// True for close, ping and pong.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN bit.
    pub fin: bool,
    /// RSV1 (the per-message-compressed bit under permessage-deflate).
    pub rsv1: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
    /// Bytes the header takes on the wire.
    pub header_len: usize,
}

/// Parses a header from the front of `buf`. `Ok(None)` means more bytes are needed.
/// `allow_rsv1` is true when an extension that uses RSV1 was negotiated. Checks everything
/// that can be checked from the header alone, in wire order, so the first error is found
/// with the fewest bytes.
pub fn parse_header(buf: &[u8], allow_rsv1: bool) -> Result<Option<FrameHeader>, ProtocolError> {
    let Some(&b0) = buf.first() else { return Ok(None) };
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (rsv1 && !allow_rsv1) {
        return Err(ProtocolError::ReservedBits);
    }
    let opcode = match b0 & 0x0f {
        0x0 => OpCode::Continuation,
        0x1 => OpCode::Text,
        0x2 => OpCode::Binary,
        0x8 => OpCode::Close,
        0x9 => OpCode::Ping,
        0xA => OpCode::Pong,
        other => return Err(ProtocolError::ReservedOpcode(other)),
    };
    if opcode.is_control() && !fin {
        return Err(ProtocolError::FragmentedControlFrame);
    }
    let Some(&b1) = buf.get(1) else { return Ok(None) };
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    if opcode.is_control() && len7 > 125 {
        return Err(ProtocolError::ControlFrameTooLong);
    }
    let (len, mut pos) = match len7 {
        126 => {
            let Some(b) = buf.get(2..4) else { return Ok(None) };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else { return Ok(None) };
            let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
            if len >> 63 != 0 {
                return Err(ProtocolError::LengthTopBitSet);
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let Some(k) = buf.get(pos..pos + 4) else { return Ok(None) };
        pos += 4;
        Some([k[0], k[1], k[2], k[3]])
    } else {
        None
    };
    Ok(Some(FrameHeader { fin, rsv1, opcode, mask, len, header_len: pos }))
}

/// Writes a header into `out` (at least [`MAX_HEADER_LEN`] bytes) and returns its length.
pub fn encode_header(out: &mut [u8], fin: bool, rsv1: bool, opcode: OpCode, mask: Option<[u8; 4]>, len: u64) -> usize {
    out[0] = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode as u8;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut pos = if len < 126 {
        out[1] = mask_bit | len as u8;
        2
    } else if len <= u64::from(u16::MAX) {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    if let Some(k) = mask {
        out[pos..pos + 4].copy_from_slice(&k);
        pos += 4;
    }
    pos
}

/// The header length for a frame of `len` bytes.
pub fn header_len(len: u64, masked: bool) -> usize {
    let base = if len < 126 {
        2
    } else if len <= u64::from(u16::MAX) {
        4
    } else {
        10
    };
    base + if masked { 4 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_lengths() {
        for &len in &[0u64, 1, 125, 126, 127, 65535, 65536, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = encode_header(&mut out, true, false, OpCode::Binary, mask, len);
                assert_eq!(n, header_len(len, mask.is_some()));
                let h = parse_header(&out[..n], false).unwrap().unwrap();
                assert_eq!((h.len, h.mask, h.header_len), (len, mask, n));
                for short in 0..n {
                    assert_eq!(parse_header(&out[..short], false).unwrap(), None);
                }
            }
        }
    }

    #[test]
    fn rejects_header_level_violations() {
        assert_eq!(parse_header(&[0x91, 0], false), Err(ProtocolError::ReservedBits));
        assert_eq!(parse_header(&[0xc1, 0], false), Err(ProtocolError::ReservedBits));
        assert!(parse_header(&[0xc1, 0], true).unwrap().unwrap().rsv1);
        assert_eq!(parse_header(&[0x83, 0], false), Err(ProtocolError::ReservedOpcode(3)));
        assert_eq!(parse_header(&[0x8b, 0], false), Err(ProtocolError::ReservedOpcode(0xb)));
        assert_eq!(parse_header(&[0x09, 0], false), Err(ProtocolError::FragmentedControlFrame));
        assert_eq!(parse_header(&[0x89, 126], false), Err(ProtocolError::ControlFrameTooLong));
        let mut big = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_header(&big, false), Err(ProtocolError::LengthTopBitSet));
        big[2] = 0x7f;
        assert_eq!(parse_header(&big, false).unwrap().unwrap().len, 0x7f00_0000_0000_0000);
    }
}
