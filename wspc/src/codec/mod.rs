//! Wire codec: frame headers (RFC 6455 §5.2), masking (§5.3) and incremental UTF-8.

pub mod frame;
pub mod mask;
pub mod utf8;
