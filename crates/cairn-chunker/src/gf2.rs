//! Arithmetic on polynomials over GF(2), each stored in the bits of an
//! integer: bit `i` is the coefficient of `x^i`.
//!
//! Addition and subtraction are both XOR. Products of two `u64`
//! polynomials need up to 127 bits and are returned as `u128`, so nothing
//! here can overflow. The functions are written for clarity, not speed:
//! they run once per polynomial (table construction, irreducibility
//! checks), never per input byte.

/// Degree of `a`, or `None` for the zero polynomial.
#[inline]
pub fn degree(a: u64) -> Option<u32> {
    (a != 0).then(|| 63 - a.leading_zeros())
}

/// Degree of a 128-bit polynomial, or `None` for zero.
#[inline]
pub fn degree128(a: u128) -> Option<u32> {
    (a != 0).then(|| 127 - a.leading_zeros())
}

/// Sum (= difference) of two polynomials.
#[inline]
pub fn add(a: u64, b: u64) -> u64 {
    a ^ b
}

/// Carry-less product of `a` and `b`.
pub fn mul(a: u64, b: u64) -> u128 {
    let wide = u128::from(a);
    let mut product = 0u128;
    let mut rest = b;
    while rest != 0 {
        let bit = rest.trailing_zeros();
        product ^= wide << bit;
        rest &= rest - 1;
    }
    product
}

/// Quotient and remainder of the 128-bit polynomial `a` divided by `m`.
///
/// # Panics
/// If `m` is zero.
pub fn div_rem128(mut a: u128, m: u64) -> (u128, u64) {
    let dm = degree(m).expect("GF(2) division by the zero polynomial");
    let mut quotient = 0u128;
    while let Some(da) = degree128(a) {
        if da < dm {
            break;
        }
        let shift = da - dm;
        a ^= u128::from(m) << shift;
        quotient |= 1u128 << shift;
    }
    // `a` now has degree below `dm` <= 63, so it fits.
    (quotient, a as u64)
}

/// Quotient and remainder of `a` divided by `m`.
///
/// # Panics
/// If `m` is zero.
pub fn div_rem(a: u64, m: u64) -> (u64, u64) {
    let (q, r) = div_rem128(u128::from(a), m);
    // The quotient of a 64-bit dividend has degree at most 63.
    (q as u64, r)
}

/// `a mod m`.
///
/// # Panics
/// If `m` is zero.
#[inline]
pub fn rem(a: u64, m: u64) -> u64 {
    div_rem(a, m).1
}

/// `(a * b) mod m`, exact for all inputs.
///
/// # Panics
/// If `m` is zero.
pub fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    div_rem128(mul(a, b), m).1
}

/// Greatest common divisor (monic, as every non-zero GF(2) polynomial is).
/// `gcd(0, 0)` is 0.
pub fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let r = rem(a, b);
        a = b;
        b = r;
    }
    a
}

/// `x^(2^k) mod m`, by squaring `x` `k` times.
///
/// # Panics
/// If `m` is zero.
pub fn x_pow_2k_mod(k: u32, m: u64) -> u64 {
    let mut acc = rem(0b10, m);
    for _ in 0..k {
        acc = mul_mod(acc, acc, m);
    }
    acc
}

/// Ben-Or's irreducibility test: `p` of degree `d >= 1` is irreducible iff
/// `gcd(p, x^(2^i) - x mod p) = 1` for every `i` in `1..=d/2`.
///
/// Constants (0 and 1) are not irreducible. (restic's implementation
/// answers `true` for them because its loop runs zero times; no valid
/// chunker polynomial is affected.)
pub fn is_irreducible(p: u64) -> bool {
    let Some(d) = degree(p) else { return false };
    if d == 0 {
        return false;
    }
    (1..=d / 2).all(|i| gcd(p, add(x_pow_2k_mod(i, p), 0b10)) == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrees() {
        assert_eq!(degree(0), None);
        assert_eq!(degree(1), Some(0));
        assert_eq!(degree(0b1011), Some(3));
        assert_eq!(degree(u64::MAX), Some(63));
        assert_eq!(degree128(1 << 100), Some(100));
    }

    #[test]
    fn multiplication() {
        // (x + 1)^2 = x^2 + 1 in GF(2)
        assert_eq!(mul(0b11, 0b11), 0b101);
        // (x^2 + x + 1)(x + 1) = x^3 + 1
        assert_eq!(mul(0b111, 0b11), 0b1001);
        assert_eq!(mul(u64::MAX, 0), 0);
        assert_eq!(mul(1 << 63, 1 << 63), 1u128 << 126);
    }

    #[test]
    fn division() {
        // x^3 + 1 = (x + 1)(x^2 + x + 1)
        assert_eq!(div_rem(0b1001, 0b11), (0b111, 0));
        // x^4 + x + 1 = x * (x^3 + 1) + 1
        assert_eq!(div_rem(0b10011, 0b1001), (0b10, 0b1));
        assert_eq!(div_rem(0b11, 0b1011), (0, 0b11));
        for (a, m) in [(0xdead_beef_u64, 0x1b_u64), (u64::MAX, 0x3DA3358B4DC173)] {
            let (q, r) = div_rem(a, m);
            assert!(degree(r) < degree(m));
            assert_eq!(mul(q, m) ^ u128::from(r), u128::from(a));
        }
    }

    #[test]
    #[should_panic(expected = "zero polynomial")]
    fn division_by_zero_panics() {
        rem(5, 0);
    }

    #[test]
    fn gcd_and_mul_mod() {
        // (x+1)(x^2+x+1) and (x+1)^2 share x+1.
        assert_eq!(gcd(0b1001, 0b101), 0b11);
        assert_eq!(gcd(0b111, 0b1011), 1);
        assert_eq!(gcd(0, 0b1011), 0b1011);
        // x * x^2 mod (x^3 + x + 1) = x + 1
        assert_eq!(mul_mod(0b10, 0b100, 0b1011), 0b11);
        // x^(2^3) = x^8 mod x^3+x+1: the field has 8 elements, so x^8 = x.
        assert_eq!(x_pow_2k_mod(3, 0b1011), 0b10);
    }

    #[test]
    fn small_irreducibles() {
        // All irreducible polynomials of degree <= 4.
        let irreducible = [0b10, 0b11, 0b111, 0b1011, 0b1101, 0b10011, 0b11001, 0b11111];
        for p in 0u64..32 {
            assert_eq!(is_irreducible(p), irreducible.contains(&p), "p = {p:#b}");
        }
    }
}
