//! scrypt parameter validation, salt handling and calibration.

use std::time::{Duration, Instant};

use cairn_crypto::{derive_key, CryptoError, ScryptParams};

const SALT: [u8; 64] = [7; 64];

fn params(n: u64, r: u32, p: u32) -> ScryptParams {
    ScryptParams { n, r, p }
}

fn invalid_message(p: ScryptParams) -> String {
    match p.validate() {
        Err(CryptoError::InvalidParams(msg)) => msg,
        other => panic!("{p:?} should be refused, got {other:?}"),
    }
}

#[test]
fn hostile_parameters_are_refused_quickly() {
    let cases: &[(ScryptParams, &str)] = &[
        (params(1 << 40, 8, 1), "memory"),
        (params(1 << 63, 1, 1), "memory"),
        (params(2, u32::MAX, 1), "2^30"),
        (params(2, 1 << 29, 1), "memory"),
        (params(1024, 8, 1 << 26), "work"),
        (params(1 << 16, 8, 1 << 20), "work"),
        (params(1024, 8, u32::MAX), "2^30"),
        (params(1000, 8, 1), "power of two"),
        (params(u64::MAX, 8, 1), "power of two"),
        (params(0, 8, 1), "power of two"),
        (params(1, 8, 1), "power of two"),
        (params(3, 8, 1), "power of two"),
        (params(1024, 0, 1), "r must"),
        (params(1024, 8, 0), "p must"),
    ];
    let start = Instant::now();
    for &(p, what) in cases {
        let msg = invalid_message(p);
        assert!(msg.contains(what), "{p:?}: {msg:?} should mention {what:?}");
        // derive_key must refuse before touching scrypt (which would try
        // to allocate up to terabytes or run for hours).
        let err = derive_key(b"pw", &SALT, &p).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidParams(_)), "{err:?}");
    }
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn bounds_are_inclusive_at_the_limits() {
    // 128 * 2^19 * 8 = 512 MiB exactly; 2^19 * 8 * 64 = 2^28 exactly.
    params(1 << 19, 8, 64).validate().unwrap();
    assert!(invalid_message(params(1 << 20, 8, 1)).contains("memory"));
    assert!(invalid_message(params(1 << 19, 8, 65)).contains("work"));
    // restic's usual parameters.
    params(32768, 8, 4).validate().unwrap();
    ScryptParams::FALLBACK.validate().unwrap();
    assert_eq!(ScryptParams::FALLBACK, params(16384, 8, 1));
}

#[test]
fn salt_must_be_64_bytes() {
    let p = params(16, 1, 1);
    for len in [0, 16, 32, 63, 65, 128] {
        let salt = vec![1u8; len];
        let err = derive_key(b"pw", &salt, &p).unwrap_err();
        assert!(
            matches!(err, CryptoError::InvalidSalt { len: l } if l == len),
            "{err:?}"
        );
    }
    derive_key(b"pw", &SALT, &p).unwrap();
}

#[test]
fn params_are_checked_before_the_salt() {
    let err = derive_key(b"pw", b"short", &params(1 << 40, 8, 1)).unwrap_err();
    assert!(matches!(err, CryptoError::InvalidParams(_)));
}

#[test]
fn derivation_depends_on_every_input() {
    let p = params(16, 1, 1);
    let base = derive_key(b"pw", &SALT, &p).unwrap();
    let same = derive_key(b"pw", &SALT, &p).unwrap();
    assert_eq!(base.encrypt_key(), same.encrypt_key());
    assert_eq!(base.mac_r(), same.mac_r());

    let mut salt2 = SALT;
    salt2[63] ^= 1;
    let others = [
        derive_key(b"pW", &SALT, &p).unwrap(),
        derive_key(b"pw", &salt2, &p).unwrap(),
        derive_key(b"pw", &SALT, &params(32, 1, 1)).unwrap(),
        derive_key(b"pw", &SALT, &params(16, 2, 1)).unwrap(),
        derive_key(b"pw", &SALT, &params(16, 1, 2)).unwrap(),
    ];
    for o in &others {
        assert_ne!(o.encrypt_key(), base.encrypt_key());
        assert_ne!(o.mac_k(), base.mac_k());
    }
    // The three parts are distinct slices of the output.
    assert_ne!(base.mac_k(), base.mac_r());
    assert_ne!(&base.encrypt_key()[..16], base.mac_k());
}

#[test]
fn calibrate_with_tiny_target_is_valid_and_minimal() {
    let p = ScryptParams::calibrate(Duration::ZERO, 1 << 20);
    p.validate().unwrap();
    // Every run is slower than zero, so N halves to 2 and p stays 1.
    assert_eq!(p, params(2, 8, 1));
}

#[test]
fn calibrate_respects_memory_and_is_usable() {
    let max_memory = 4 << 20;
    let p = ScryptParams::calibrate(Duration::from_millis(5), max_memory);
    p.validate().unwrap();
    assert_eq!(p.r, 8);
    assert!(p.p >= 1);
    assert!(p.n >= 2 && p.n.is_power_of_two());
    assert!(128 * u64::from(p.r) * p.n < max_memory as u64);
    derive_key(b"pw", &SALT, &p).unwrap();
}

#[test]
fn calibrate_without_enough_memory_falls_back() {
    assert_eq!(
        ScryptParams::calibrate(Duration::from_millis(1), 1024),
        ScryptParams::FALLBACK
    );
}

#[test]
fn calibrate_with_tiny_memory_and_long_target_terminates() {
    // N is forced down to 2, so each run takes microseconds and p would
    // have to climb into the hundreds of thousands to reach the target.
    let target = Duration::from_millis(50);
    let start = Instant::now();
    let p = ScryptParams::calibrate(target, 4096);
    let spent = start.elapsed();
    p.validate().unwrap();
    assert_eq!((p.n, p.r), (2, 8));
    assert!(
        spent < target * (cairn_crypto::CALIBRATION_BUDGET + 40),
        "calibration took {spent:?}"
    );
}
