//! scrypt key derivation for restic key files, parameter checks and
//! calibration.
//!
//! A key file stores `N`, `r`, `p` and a 64-byte salt. The user key is
//! `scrypt(password, salt, N, r, p, 64)`: bytes 0–31 are the AES-256 key,
//! 32–47 the MAC `k`, 48–63 the MAC `r`. It opens the key file's `data`.
//!
//! The p lanes of scrypt run one after another in one buffer of
//! `128 * r * N` bytes (32 MiB with restic's usual parameters), as in
//! restic. Running two at once (scrypt's `parallel` feature) saved ~45 ms
//! per command on two cores, but raised every small command's peak memory
//! from ~43 to ~75 MiB, and its buffer per lane cost each lane 8,192 fresh
//! page faults: 0.1-0.2 s of system time for restic's five lanes.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::{CryptoError, MasterKey};

/// Length of the salt stored in restic key files.
const SALT_LEN: usize = 64;

/// Largest accepted scrypt memory, `128 * N * r` bytes.
const MAX_MEMORY: u128 = 512 * 1024 * 1024;

/// Largest accepted total work, `N * r * p`.
const MAX_WORK: u128 = 1 << 28;

/// How many multiples of the target duration [`ScryptParams::calibrate`]
/// may spend before it stops raising p.
pub const CALIBRATION_BUDGET: u32 = 20;

/// scrypt parameters as stored in a key file (`N`, `r`, `p`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScryptParams {
    /// CPU/memory cost; a power of two greater than 1.
    pub n: u64,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl ScryptParams {
    /// What restic uses when calibration fails: N = 16384, r = 8, p = 1.
    pub const FALLBACK: ScryptParams = ScryptParams {
        n: 16384,
        r: 8,
        p: 1,
    };

    /// Bytes one scrypt lane works in: `128 * N * r`.
    fn lane_memory(&self) -> u128 {
        128 * u128::from(self.n) * u128::from(self.r)
    }

    /// Check the parameters before spending any memory or time on them.
    ///
    /// Besides scrypt's own rules (N a power of two above 1, r and p at
    /// least 1, r·p < 2³⁰) this enforces bounds that protect against
    /// hostile key files: memory 128·N·r at most 512 MiB and work N·r·p at
    /// most 2²⁸. Parameters restic has ever produced are far below both.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParams`] naming the rule that failed.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let bad = |msg: String| Err(CryptoError::InvalidParams(msg));
        if self.n <= 1 || !self.n.is_power_of_two() {
            return bad(format!("N = {} is not a power of two above 1", self.n));
        }
        if self.r == 0 {
            return bad("r must be at least 1".into());
        }
        if self.p == 0 {
            return bad("p must be at least 1".into());
        }
        let (n, r, p) = (u128::from(self.n), u128::from(self.r), u128::from(self.p));
        if r * p >= 1 << 30 {
            return bad(format!("r * p = {} is not below 2^30", r * p));
        }
        if self.lane_memory() > MAX_MEMORY {
            return bad(format!(
                "memory 128 * N * r = {} bytes exceeds the 512 MiB limit",
                self.lane_memory()
            ));
        }
        if n * r * p > MAX_WORK {
            return bad(format!(
                "work N * r * p = {} exceeds the limit of 2^28",
                n * r * p
            ));
        }
        Ok(())
    }

    /// Pick parameters for this machine the way restic does (it calls this
    /// once per process with 500 ms and 60 MiB):
    ///
    /// 1. r = 8; N is the largest power of two with 128·r·N < `max_memory`
    ///    (bytes), capped by the [`validate`](Self::validate) bounds.
    /// 2. N is halved while one derivation takes longer than `target`.
    /// 3. p is raised until a derivation takes at least `target`, then
    ///    lowered by one (never below 1).
    ///
    /// If `max_memory` is too small for N = 2, or a derivation fails,
    /// [`FALLBACK`](Self::FALLBACK) is returned. The result always passes
    /// [`validate`](Self::validate). Runs several derivations, so expect it
    /// to take a few multiples of `target`.
    ///
    /// One safeguard restic lacks: p stops rising once the calibration as a
    /// whole has run for [`CALIBRATION_BUDGET`] × `target`. With realistic
    /// inputs (tens of MiB) that never triggers; it keeps a tiny
    /// `max_memory` with a long `target` from creeping up p one step at a
    /// time for hours.
    pub fn calibrate(target: Duration, max_memory: usize) -> ScryptParams {
        Self::try_calibrate(target, max_memory).unwrap_or(Self::FALLBACK)
    }

    fn try_calibrate(target: Duration, max_memory: usize) -> Option<ScryptParams> {
        let started = Instant::now();
        let budget = target.saturating_mul(CALIBRATION_BUDGET);
        let r = 8;
        let mut params = ScryptParams {
            n: largest_n(r, max_memory)?,
            r,
            p: 1,
        };

        while time_one_run(&params)? > target && params.n > 2 {
            params.n /= 2;
        }

        loop {
            let more = ScryptParams {
                p: params.p + 1,
                ..params
            };
            if more.validate().is_err()
                || started.elapsed() > budget
                || time_one_run(&more)? >= target
            {
                break;
            }
            params = more;
        }
        params.validate().ok()?;
        Some(params)
    }
}

/// The largest power of two `n >= 2` with `128 * r * n < max_memory` that
/// also respects the memory bound of `validate`.
fn largest_n(r: u32, max_memory: usize) -> Option<u64> {
    let limit = u128::try_from(max_memory).ok()?;
    let fits = |n: u64| {
        let need = 128 * u128::from(r) * u128::from(n);
        need < limit && need <= MAX_MEMORY
    };
    if !fits(2) {
        return None;
    }
    let mut n: u64 = 2;
    while fits(n * 2) {
        n *= 2;
    }
    Some(n)
}

/// Time one derivation with throwaway inputs.
fn time_one_run(params: &ScryptParams) -> Option<Duration> {
    let salt = [0x5a; SALT_LEN];
    let start = Instant::now();
    let key = derive_key(b"calibration", &salt, params).ok()?;
    let elapsed = start.elapsed();
    drop(key);
    Some(elapsed)
}

/// Derive the user key of a key file: `scrypt(password, salt, N, r, p, 64)`
/// split into AES key (bytes 0–31), MAC `k` (32–47) and MAC `r` (48–63).
///
/// # Errors
/// [`CryptoError::InvalidParams`] if `params` fail
/// [`ScryptParams::validate`] (checked before any work is done),
/// [`CryptoError::InvalidSalt`] unless the salt is exactly 64 bytes,
/// [`CryptoError::Kdf`] if scrypt itself fails, and
/// [`CryptoError::ZeroKey`] in the (astronomically unlikely) case that a
/// part of the output is all zero.
pub fn derive_key(
    password: &[u8],
    salt: &[u8],
    params: &ScryptParams,
) -> Result<MasterKey, CryptoError> {
    params.validate()?;
    if salt.len() != SALT_LEN {
        return Err(CryptoError::InvalidSalt { len: salt.len() });
    }
    // validate() guarantees N is a power of two in 2..=2^22.
    let log_n = u8::try_from(params.n.trailing_zeros())
        .map_err(|_| CryptoError::InvalidParams("N out of range".into()))?;
    let scrypt_params = scrypt::Params::new(log_n, params.r, params.p)
        .map_err(|e| CryptoError::InvalidParams(e.to_string()))?;

    let mut out = Zeroizing::new([0u8; 64]);
    scrypt::scrypt(password, salt, &scrypt_params, out.as_mut_slice())
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;

    let mut encrypt = Zeroizing::new([0u8; 32]);
    let mut mac_k = Zeroizing::new([0u8; 16]);
    let mut mac_r = Zeroizing::new([0u8; 16]);
    encrypt.copy_from_slice(&out[..32]);
    mac_k.copy_from_slice(&out[32..48]);
    mac_r.copy_from_slice(&out[48..]);
    MasterKey::from_parts(*encrypt, *mac_k, *mac_r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_default_memory_gives_n_32768() {
        // 128 * 8 * 32768 = 32 MiB < 60 MiB; 65536 would need 64 MiB.
        assert_eq!(largest_n(8, 60 << 20), Some(32768));
        // Strictly below: exactly 32 MiB is not enough for 32768.
        assert_eq!(largest_n(8, 32 << 20), Some(16384));
        assert_eq!(largest_n(8, 2048), None);
        assert_eq!(largest_n(8, 2049), Some(2));
        // Capped by the 512 MiB validate() bound.
        assert_eq!(largest_n(8, usize::MAX), Some(1 << 19));
    }

    #[test]
    fn fallback_and_bounds_are_valid() {
        ScryptParams::FALLBACK.validate().unwrap();
        ScryptParams {
            n: 1 << 19,
            r: 8,
            p: 64,
        }
        .validate()
        .unwrap();
        ScryptParams { n: 2, r: 1, p: 1 }.validate().unwrap();
    }
}
