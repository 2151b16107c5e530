//! Known-answer tests: the facts file's vector and a key file plus config
//! produced by the real restic 0.14 (see tests/data/README.md).

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cairn_crypto::{derive_key, sha256, CryptoError, MasterKey, ScryptParams};
use poly1305::Poly1305;

fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().unwrap()
}

const ENCRYPT: &str = "303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef";
const MAC_K: &str = "ef4d8824cb80b2bcc5fbff8a9b12a42c";
const MAC_R: &str = "cc8d4b948ee0ebfe1d415de921d10353";
const SEALED: &str = "69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750";

fn facts_key() -> MasterKey {
    MasterKey::from_parts(arr(&hex(ENCRYPT)), arr(&hex(MAC_K)), arr(&hex(MAC_R))).unwrap()
}

/// Poly1305-AES written out independently of the crate: one-time key is
/// clamp(r) || AES-128_k(nonce), tag is raw Poly1305 over `msg`.
fn reference_tag(nonce: &[u8; 16], msg: &[u8]) -> [u8; 16] {
    let mut r: [u8; 16] = arr(&hex(MAC_R));
    let clamp = 0x0fff_fffc_0fff_fffc_0fff_fffc_0fff_ffffu128.to_le_bytes();
    for (b, m) in r.iter_mut().zip(clamp) {
        *b &= m;
    }
    let aes = aes::Aes128::new(&arr::<16>(&hex(MAC_K)).into());
    let mut s = aes::Block::from(*nonce);
    aes.encrypt_block(&mut s);
    let mut one_time = [0u8; 32];
    one_time[..16].copy_from_slice(&r);
    one_time[16..].copy_from_slice(&s);
    Poly1305::new(&one_time.into()).compute_unpadded(msg).into()
}

#[test]
fn facts_vector_decrypts() {
    let sealed = hex(SEALED);
    assert_eq!(sealed.len(), 16 + 18 + 16);
    assert_eq!(facts_key().open(&sealed).unwrap(), b"Dies ist ein Test!");

    let mut buf = sealed.clone();
    facts_key().open_in_place(&mut buf).unwrap();
    assert_eq!(buf, b"Dies ist ein Test!");
}

#[test]
fn facts_vector_is_reproduced_by_seal() {
    let sealed = hex(SEALED);
    let nonce: [u8; 16] = arr(&sealed[..16]);
    let again = facts_key()
        .seal_with_nonce(&nonce, b"Dies ist ein Test!")
        .unwrap();
    assert_eq!(again, sealed);
}

/// The tag covers the ciphertext only. The reference construction over
/// the ciphertext reproduces the stored tag; the same construction over
/// IV || ciphertext gives a different tag, which `open` must refuse.
#[test]
fn facts_vector_tag_over_iv_and_ciphertext_fails() {
    let sealed = hex(SEALED);
    let nonce: [u8; 16] = arr(&sealed[..16]);
    let (body, stored_tag) = sealed.split_at(sealed.len() - 16);

    // Sanity: the reference MAC over the ciphertext alone is the real tag.
    assert_eq!(reference_tag(&nonce, &body[16..]), stored_tag);

    let wrong_tag = reference_tag(&nonce, body);
    assert_ne!(wrong_tag, stored_tag);
    let mut forged = body.to_vec();
    forged.extend_from_slice(&wrong_tag);
    assert!(matches!(
        facts_key().open(&forged),
        Err(CryptoError::BadMac)
    ));
}

#[test]
fn facts_vector_r_is_clamped_on_use() {
    // r in the vector is unclamped; a key holding the clamped r must give
    // the same tags, and mac_r() must return r as stored.
    let key = facts_key();
    assert_eq!(key.mac_r()[..], hex(MAC_R)[..]);
    let mut clamped: [u8; 16] = arr(&hex(MAC_R));
    for i in [3, 7, 11, 15] {
        clamped[i] &= 0x0f;
    }
    for i in [4, 8, 12] {
        clamped[i] &= 0xfc;
    }
    assert_ne!(clamped[..], hex(MAC_R)[..], "vector r should be unclamped");
    let clamped_key = MasterKey::from_parts(arr(&hex(ENCRYPT)), arr(&hex(MAC_K)), clamped).unwrap();
    assert_eq!(
        clamped_key.open(&hex(SEALED)).unwrap(),
        b"Dies ist ein Test!"
    );
}

const KEY_FILE: &[u8] = include_bytes!("data/restic-0.14-key.json");
const CONFIG: &[u8] = include_bytes!("data/restic-0.14-config");
const KEY_FILE_ID: &str = "8144ca7913239adf3d69b27ee83355eee61a4e2d494c67b031f5e5783804e887";

fn b64_field(v: &serde_json::Value, path: &[&str]) -> Vec<u8> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    B64.decode(cur.as_str().expect("base64 string field"))
        .unwrap()
}

fn key_file_parts() -> (Vec<u8>, ScryptParams, Vec<u8>) {
    let kf: serde_json::Value = serde_json::from_slice(KEY_FILE).unwrap();
    assert_eq!(kf["kdf"], "scrypt");
    let params = ScryptParams {
        n: kf["N"].as_u64().unwrap(),
        r: u32::try_from(kf["r"].as_u64().unwrap()).unwrap(),
        p: u32::try_from(kf["p"].as_u64().unwrap()).unwrap(),
    };
    (b64_field(&kf, &["salt"]), params, b64_field(&kf, &["data"]))
}

#[test]
fn restic_key_file_name_is_its_sha256() {
    assert_eq!(sha256(KEY_FILE).to_vec(), hex(KEY_FILE_ID));
}

#[test]
fn restic_key_file_and_config_open() {
    let (salt, params, data) = key_file_parts();
    assert_eq!(salt.len(), 64);
    params.validate().unwrap();

    let user_key = derive_key(b"test", &salt, &params).unwrap();
    let master_json = user_key.open(&data).unwrap();
    let master: serde_json::Value = serde_json::from_slice(&master_json).unwrap();
    let master_key = MasterKey::from_parts(
        arr(&b64_field(&master, &["encrypt"])),
        arr(&b64_field(&master, &["mac", "k"])),
        arr(&b64_field(&master, &["mac", "r"])),
    )
    .unwrap();

    let config_json = master_key.open(CONFIG).unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config_json).unwrap();
    assert_eq!(config["version"], 2, "restic 0.14 creates v2 repositories");
    assert_eq!(config["id"].as_str().unwrap().len(), 64);
    assert!(config["chunker_polynomial"].is_string());

    // The user key does not open the config, and vice versa.
    assert!(matches!(user_key.open(CONFIG), Err(CryptoError::BadMac)));
    assert!(matches!(master_key.open(&data), Err(CryptoError::BadMac)));
}

#[test]
fn restic_key_file_wrong_password_is_bad_mac() {
    let (salt, params, data) = key_file_parts();
    let user_key = derive_key(b"tesT", &salt, &params).unwrap();
    let err = user_key.open(&data).unwrap_err();
    assert!(matches!(err, CryptoError::BadMac));
    assert!(!err.to_string().contains("tesT"));
}
