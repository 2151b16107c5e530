//! Property tests for seal/open.

use cairn_crypto::{CryptoError, MasterKey, NONCE_LEN, OVERHEAD};
use proptest::prelude::*;

fn nonzero<const N: usize>() -> impl Strategy<Value = [u8; N]>
where
    [u8; N]: Arbitrary,
{
    any::<[u8; N]>().prop_filter("all-zero", |a| a.iter().any(|&b| b != 0))
}

fn master_key() -> impl Strategy<Value = MasterKey> {
    (nonzero::<32>(), nonzero::<16>(), nonzero::<16>())
        .prop_map(|(e, k, r)| MasterKey::from_parts(e, k, r).unwrap())
}

fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2048)
}

proptest! {
    #[test]
    fn seal_open_round_trip(key in master_key(), pt in plaintext()) {
        let sealed = key.seal(&pt);
        prop_assert_eq!(sealed.len(), pt.len() + OVERHEAD);
        prop_assert_eq!(&key.open(&sealed).unwrap(), &pt);
        let mut buf = sealed;
        key.open_in_place(&mut buf).unwrap();
        prop_assert_eq!(&buf, &pt);
    }

    #[test]
    fn seal_into_appends_an_openable_message(
        key in master_key(),
        before in prop::collection::vec(any::<u8>(), 0..64),
        pt in plaintext(),
    ) {
        let mut buf = before.clone();
        key.seal_into(&pt, &mut buf);
        prop_assert_eq!(buf.len(), before.len() + pt.len() + OVERHEAD);
        prop_assert_eq!(&buf[..before.len()], &before[..]);
        prop_assert_eq!(key.open(&buf[before.len()..]).unwrap(), pt);
    }

    #[test]
    fn seal_with_nonce_round_trip(
        key in master_key(),
        nonce in nonzero::<NONCE_LEN>(),
        pt in plaintext(),
    ) {
        let sealed = key.seal_with_nonce(&nonce, &pt).unwrap();
        prop_assert_eq!(&sealed[..NONCE_LEN], &nonce[..]);
        prop_assert_eq!(key.open(&sealed).unwrap(), pt);
    }

    #[test]
    fn any_flipped_bit_fails(
        key in master_key(),
        pt in plaintext(),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut sealed = key.seal(&pt);
        let i = pos.index(sealed.len());
        sealed[i] ^= 1 << bit;
        let all_zero_nonce = sealed[..NONCE_LEN].iter().all(|&b| b == 0);
        let err = key.open(&sealed).unwrap_err();
        if all_zero_nonce {
            prop_assert!(matches!(err, CryptoError::ZeroNonce));
        } else {
            prop_assert!(matches!(err, CryptoError::BadMac), "{err:?}");
        }
        let before = sealed.clone();
        prop_assert!(key.open_in_place(&mut sealed).is_err());
        prop_assert_eq!(sealed, before);
    }

    #[test]
    fn truncation_fails(
        key in master_key(),
        pt in plaintext(),
        cut in any::<prop::sample::Index>(),
    ) {
        let sealed = key.seal(&pt);
        // Keep 0..len-1 bytes, from the end or from the start.
        let keep = cut.index(sealed.len());
        prop_assert!(key.open(&sealed[..keep]).is_err());
        prop_assert!(key.open(&sealed[sealed.len() - keep..]).is_err());
        if keep < OVERHEAD {
            let short = key.open(&sealed[..keep]).unwrap_err();
            let is_too_short = matches!(short, CryptoError::TooShort { len } if len == keep);
            prop_assert!(is_too_short, "{:?}", short);
        }
    }

    #[test]
    fn appended_bytes_fail(key in master_key(), pt in plaintext(), extra in 1u8..=255) {
        let mut sealed = key.seal(&pt);
        sealed.push(extra);
        prop_assert!(key.open(&sealed).is_err());
    }

    #[test]
    fn zero_nonce_refused(key in master_key(), pt in plaintext()) {
        prop_assert!(matches!(
            key.seal_with_nonce(&[0; NONCE_LEN], &pt),
            Err(CryptoError::ZeroNonce)
        ));
        // A message carrying a zero IV is refused before the MAC is checked.
        let mut sealed = key.seal(&pt);
        sealed[..NONCE_LEN].fill(0);
        prop_assert!(matches!(key.open(&sealed), Err(CryptoError::ZeroNonce)));
    }

    #[test]
    fn other_key_fails(a in master_key(), b in master_key(), pt in plaintext()) {
        prop_assume!(a.encrypt_key() != b.encrypt_key() || a.mac_k() != b.mac_k() || a.mac_r() != b.mac_r());
        prop_assert!(matches!(b.open(&a.seal(&pt)), Err(CryptoError::BadMac)));
    }
}
