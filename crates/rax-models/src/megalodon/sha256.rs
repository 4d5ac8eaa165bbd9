//! SHA-256 as lower-case hex, for megalodon-jax's config fingerprint
//! (`hashlib.sha256(canonical_json).hexdigest()`) and parameter manifest; the digest is the
//! `sha2` crate's.
//!
//! Depends on sha2.

use sha2::{Digest, Sha256};

/// The 32-byte SHA-256 digest of `data`.
pub fn digest(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lower-case hex of [`digest`] (Python's `hexdigest()`).
pub fn hex(data: &[u8]) -> String {
    digest(data).iter().map(|b| format!("{b:02x}")).collect()
}
