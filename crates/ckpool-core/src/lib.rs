//! ckpool-core: the pure share core of ckpool-ts.
//!
//! No N-API here — the binding at the repository root is a thin shim over these
//! functions, and `cargo test` exercises them directly.
//!
//! Byte-order conventions: hashes are `[u8; 32]` in internal order (what sha256d
//! returns; a little-endian number). RPC/display order is the reverse. Stratum's
//! `prevhash` is internal order with each 4-byte word reversed (`header::swap_words`).

pub mod coinbase;
pub mod error;
pub mod hash;
pub mod header;
pub mod merkle;
pub mod scan;
pub mod share;
pub mod shani;
pub mod target;
pub mod template;

pub use error::{CoreError, Result};
