//! How the kernels are specialised, in one place: which instruction-set build runs
//! ([`Isa`], asked once for the whole crate) and the feature-count unrolling
//! ([`dispatch_d!`]). Every build and every unrolled copy does the same operations in the
//! same order (no fused multiply-add, no reassociation), so these choices change the
//! speed, never the bits; the kernels' tests run every build the CPU has and compare.
//!
//! `CARDSEG_NO_SIMD=1` forces the portable build and `CARDSEG_NO_AVX512=1` caps it at
//! AVX2, to compare the builds in benchmarks.

use std::sync::OnceLock;

/// An instruction-set build of the hand-vectorised kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Portable code, for any CPU.
    Base,
    /// 256-bit vectors (x86-64 with AVX2).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// 512-bit vectors (x86-64 with AVX-512F).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// The widest build this CPU runs and the environment allows; checked once.
    pub(crate) fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            if std::env::var_os("CARDSEG_NO_SIMD").is_some() {
                return Isa::Base;
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::env::var_os("CARDSEG_NO_AVX512").is_none()
                    && is_x86_feature_detected!("avx512f")
                {
                    return Isa::Avx512;
                }
                if is_x86_feature_detected!("avx2") {
                    return Isa::Avx2;
                }
            }
            Isa::Base
        })
    }

    /// Every build this CPU can run, portable first (the tests compare them all).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut v = vec![Isa::Base];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                v.push(Isa::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
        }
        v
    }

    /// The build's name in reports ("portable", "avx2", "avx512").
    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Base => "portable",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
        }
    }
}

/// [`Isa`] as a const generic (`V`) of kernels compiled once per build inside each
/// `#[target_feature]` wrapper, so their intrinsics inline: the portable build.
pub(crate) const BASE: u8 = 0;
/// The AVX2 build, as a const generic.
#[cfg(target_arch = "x86_64")]
pub(crate) const AVX2: u8 = 1;
/// The AVX-512 build, as a const generic.
#[cfg(target_arch = "x86_64")]
pub(crate) const AVX512: u8 = 2;

/// Runs `f::<D>(args)` (or `f::<D, V>(args)`, written `f::<_, V>(args)`) with the feature
/// count `D` fixed at compile time for the common counts, so the distance loops are
/// unrolled; D = 0 is the general fallback (loop bound at run time, see [`dim`]).
macro_rules! dispatch_d {
    ($d:expr, $f:ident $(::<_, $v:tt>)? ( $($arg:expr),* $(,)? )) => {
        match $d {
            1 => $f::<1 $(, $v)?>($($arg),*),
            2 => $f::<2 $(, $v)?>($($arg),*),
            3 => $f::<3 $(, $v)?>($($arg),*),
            4 => $f::<4 $(, $v)?>($($arg),*),
            5 => $f::<5 $(, $v)?>($($arg),*),
            6 => $f::<6 $(, $v)?>($($arg),*),
            _ => $f::<0 $(, $v)?>($($arg),*),
        }
    };
}
pub(crate) use dispatch_d;

/// The dimension a kernel works in: its const parameter, or the run-time value for D = 0.
#[inline(always)]
pub(crate) const fn dim<const D: usize>(d: usize) -> usize {
    if D == 0 {
        d
    } else {
        D
    }
}
