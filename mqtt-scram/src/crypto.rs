//! The functions of RFC 5802 §2.2 and §3 with SHA-256 (RFC 7677): `Hi` (PBKDF2), `HMAC`, `H`, and
//! the key schedule built on them, all through `ring`. Also a constant-time comparison and the
//! random bytes of nonces and salts. Knows nothing of the message grammar (`message.rs`).

use std::num::NonZeroU32;

use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};

use crate::Error;

/// The output size of SHA-256, and so of every key, proof and signature.
pub(crate) const LEN: usize = 32;

/// A key, a proof or a signature.
pub(crate) type Block = [u8; LEN];

/// `SaltedPassword := Hi(Normalize(password), salt, i)`: PBKDF2-HMAC-SHA-256 with one block of
/// output, which is what `Hi` is (RFC 5802 §2.2).
pub(crate) fn salted_password(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Block {
    let mut out = [0; LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password,
        &mut out,
    );
    out
}

/// `HMAC(key, text)` with SHA-256.
pub(crate) fn hmac(key: &[u8], text: &[u8]) -> Block {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    block(hmac::sign(&key, text).as_ref())
}

/// `H(text)`: SHA-256.
pub(crate) fn hash(text: &[u8]) -> Block {
    block(digest::digest(&digest::SHA256, text).as_ref())
}

/// `ClientKey := HMAC(SaltedPassword, "Client Key")`.
pub(crate) fn client_key(salted: &Block) -> Block {
    hmac(salted, b"Client Key")
}

/// `ServerKey := HMAC(SaltedPassword, "Server Key")`.
pub(crate) fn server_key(salted: &Block) -> Block {
    hmac(salted, b"Server Key")
}

/// `a XOR b`, for `ClientProof := ClientKey XOR ClientSignature` and its inverse.
pub(crate) fn xor(a: &Block, b: &Block) -> Block {
    let mut out = [0; LEN];
    for (out, (a, b)) in out.iter_mut().zip(a.iter().zip(b)) {
        *out = a ^ b;
    }
    out
}

/// Compares without an early exit, so that the time taken says nothing of how many leading bytes
/// of a stored key or a signature an attacker guessed right. (ring's helper for this is deprecated
/// for outside use.)
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

/// `N` bytes from the system's random number generator.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Random)?;
    Ok(out)
}

/// A 32-byte slice as a block; every caller passes SHA-256 output.
fn block(bytes: &[u8]) -> Block {
    let mut out = [0; LEN];
    out.copy_from_slice(&bytes[..LEN]);
    out
}
