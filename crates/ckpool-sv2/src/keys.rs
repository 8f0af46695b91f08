//! Authority and static keys: secp256k1 secret keys stored as base58check strings (the
//! format SRI's key-utils and role configs use), and the authority public key as SRI
//! prints it — base58check of a 2-byte version (1, little-endian) and the 32-byte
//! x-only key — which is what miners put in `stratum2+tcp://host:port/<pubkey>`.

use key_utils::{Secp256k1PublicKey, Secp256k1SecretKey};
use secp256k1::{rand::thread_rng, Keypair, Secp256k1, SecretKey};

use crate::error::{Result, Sv2Error};

/// A fresh random secret key, base58check encoded.
pub fn generate_secret() -> String {
    let secp = Secp256k1::new();
    let (secret, _) = secp.generate_keypair(&mut thread_rng());
    Secp256k1SecretKey(secret).to_string()
}

/// Parses a base58check secret key (surrounding whitespace allowed: key files end in \n).
pub fn parse_secret(b58: &str) -> Result<SecretKey> {
    let parsed: Secp256k1SecretKey =
        b58.trim().parse().map_err(|e: key_utils::Error| Sv2Error::Key(e.to_string()))?;
    Ok(parsed.0)
}

/// The x-only public key of a secret key, raw (32 bytes).
pub fn xonly_public(secret: &SecretKey) -> [u8; 32] {
    let secp = Secp256k1::new();
    Keypair::from_secret_key(&secp, secret).x_only_public_key().0.serialize()
}

/// The base58check public key string of a base58check secret key.
pub fn public_b58(secret_b58: &str) -> Result<String> {
    let secret = parse_secret(secret_b58)?;
    Ok(Secp256k1PublicKey::from(Secp256k1SecretKey(secret)).to_string())
}

/// Parses a base58check public key (as printed by `public_b58`) to its raw x-only bytes.
pub fn parse_public(b58: &str) -> Result<[u8; 32]> {
    let key: Secp256k1PublicKey =
        b58.trim().parse().map_err(|e: key_utils::Error| Sv2Error::Key(e.to_string()))?;
    Ok(key.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trips_and_public_key_parses_back() {
        let s = generate_secret();
        let secret = parse_secret(&format!("{s}\n")).unwrap();
        let pubkey = public_b58(&s).unwrap();
        assert_eq!(parse_public(&pubkey).unwrap(), xonly_public(&secret));
    }

    #[test]
    fn sri_example_authority_pair_matches() {
        // The pair in codec_sv2's examples/encrypted.rs (SRI's documented test keys).
        let public = public_b58("mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n").unwrap();
        assert_eq!(public, "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72");
    }

    #[test]
    fn garbage_keys_are_key_errors() {
        assert_eq!(parse_secret("nope").unwrap_err().code(), "CKP_ERR_SV2_KEY");
        assert_eq!(parse_public("1111").unwrap_err().code(), "CKP_ERR_SV2_KEY");
    }
}
