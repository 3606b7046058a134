//! The ISA seam of the kernels written once for every vector width: [`Simd`], the f32 vector
//! operations a kernel body uses, implemented by one zero-sized token per ISA ([`Avx2`],
//! [`Avx512`]). A body is a generic `#[inline(always)]` function of `S: Simd`, instantiated inside a
//! `#[target_feature]` entry point per ISA, where the token's methods (also `#[inline(always)]`)
//! and the intrinsics in them inline into straight-line code. Also small AVX2 helpers.

use std::arch::x86_64::*;

/// Lanes `0..n` all ones and the rest zero: the sign-bit mask `maskload` / `maskstore` read (any n;
/// n ≥ 8 keeps every lane, n ≤ 0 none).
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn lanes_below(n: i32) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// The sum of the eight lanes of `v`.
#[target_feature(enable = "avx")]
#[inline]
pub(crate) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// The largest of the eight lanes of `v`.
#[target_feature(enable = "avx")]
#[inline]
pub(crate) fn hmax(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
}

/// f32 vectors of one ISA, as the kernel bodies shared by the ISAs use them. Implemented by a
/// zero-sized token that exists only where the CPU has the features its methods need, so the
/// arithmetic is safe to call; loads and stores take raw pointers and are `unsafe`.
///
/// Every method is `#[inline(always)]`: called from a `#[target_feature]` function with (at least)
/// the token's features, it and its intrinsics inline into that function.
pub(crate) trait Simd: Copy {
    /// f32 lanes of a vector.
    const LANES: usize;
    /// A vector of [`LANES`](Self::LANES) f32.
    type V: Copy;
    /// The lanes a masked load or store touches.
    type Mask: Copy;

    /// Lanes `0..n` (`n ≤ LANES`).
    fn mask_below(self, n: usize) -> Self::Mask;
    /// All lanes zero.
    fn zero(self) -> Self::V;
    /// All lanes `x`.
    fn splat(self, x: f32) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `min(a, b)`: `b` where either is NaN.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `max(a, b)`: `b` where either is NaN.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a · b + c`, fused.
    fn fmadd(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c − a · b`, fused.
    fn fnmadd(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Rounded to the nearest integer (ties to even).
    fn round(self, a: Self::V) -> Self::V;
    /// `|a|`.
    fn abs(self, a: Self::V) -> Self::V;
    /// `yes` in the lanes where `a < b` (ordered, so not where either is NaN), `no` elsewhere.
    fn select_lt(self, a: Self::V, b: Self::V, yes: Self::V, no: Self::V) -> Self::V;
    /// `acc + x` in the lanes of `m`, `acc` elsewhere.
    fn add_masked(self, acc: Self::V, m: Self::Mask, x: Self::V) -> Self::V;
    /// The sum of the lanes.
    fn reduce_add(self, v: Self::V) -> f32;
    /// The largest lane.
    fn reduce_max(self, v: Self::V) -> f32;

    /// The `LANES` floats at `p`.
    ///
    /// # Safety
    /// `p .. p + LANES` is readable.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// The floats at `p` in the lanes of `m`, zero elsewhere.
    ///
    /// # Safety
    /// The lanes of `m` are readable from `p` (the others are not touched and cannot fault).
    unsafe fn load_masked(self, p: *const f32, m: Self::Mask) -> Self::V;
    /// The floats at `p` in the lanes of `m`, `fill` elsewhere.
    ///
    /// # Safety
    /// As for [`load_masked`](Self::load_masked).
    unsafe fn load_masked_or(self, p: *const f32, m: Self::Mask, fill: Self::V) -> Self::V;
    /// Writes `v` to `p .. p + LANES`.
    ///
    /// # Safety
    /// `p .. p + LANES` is writable.
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// Writes the lanes of `m` of `v` from `p`; the others are not touched.
    ///
    /// # Safety
    /// The lanes of `m` are writable from `p`.
    unsafe fn store_masked(self, p: *mut f32, m: Self::Mask, v: Self::V);
}

/// The AVX2 token: 8 lanes, masks as vectors (`maskload` / `maskstore` read their sign bits).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The token.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Self(())
    }
}

/// The AVX-512 token: 16 lanes, masks in mask registers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// The token.
    ///
    /// # Safety
    /// The CPU supports AVX-512F.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Self(())
    }
}

/// The safe methods of a token: each calls one expression of intrinsics the token's features cover.
macro_rules! token_ops {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $body:expr;)*) => {$(
        #[inline(always)]
        fn $name(self, $($arg: $ty),*) -> $ret {
            // SAFETY: the token exists only where the CPU has its features (`new_unchecked`), which
            // cover every intrinsic here; none of them touches memory.
            unsafe { $body }
        }
    )*};
}

impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;
    type Mask = __m256i;

    token_ops! {
        fn mask_below(n: usize) -> __m256i = lanes_below(n as i32);
        fn zero() -> __m256 = _mm256_setzero_ps();
        fn splat(x: f32) -> __m256 = _mm256_set1_ps(x);
        fn add(a: __m256, b: __m256) -> __m256 = _mm256_add_ps(a, b);
        fn sub(a: __m256, b: __m256) -> __m256 = _mm256_sub_ps(a, b);
        fn mul(a: __m256, b: __m256) -> __m256 = _mm256_mul_ps(a, b);
        fn div(a: __m256, b: __m256) -> __m256 = _mm256_div_ps(a, b);
        fn min(a: __m256, b: __m256) -> __m256 = _mm256_min_ps(a, b);
        fn max(a: __m256, b: __m256) -> __m256 = _mm256_max_ps(a, b);
        fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 = _mm256_fmadd_ps(a, b, c);
        fn fnmadd(a: __m256, b: __m256, c: __m256) -> __m256 = _mm256_fnmadd_ps(a, b, c);
        fn round(a: __m256) -> __m256 =
            _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a);
        fn abs(a: __m256) -> __m256 = _mm256_andnot_ps(_mm256_set1_ps(-0.0), a);
        fn select_lt(a: __m256, b: __m256, yes: __m256, no: __m256) -> __m256 =
            _mm256_blendv_ps(no, yes, _mm256_cmp_ps::<_CMP_LT_OQ>(a, b));
        fn add_masked(acc: __m256, m: __m256i, x: __m256) -> __m256 =
            _mm256_add_ps(acc, _mm256_and_ps(x, _mm256_castsi256_ps(m)));
        fn reduce_add(v: __m256) -> f32 = hsum(v);
        fn reduce_max(v: __m256) -> f32 = hmax(v);
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: the token's features (AVX); the caller guarantees the memory.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, m: __m256i) -> __m256 {
        // SAFETY: as for `load`; masked-off lanes are not read.
        unsafe { _mm256_maskload_ps(p, m) }
    }

    #[inline(always)]
    unsafe fn load_masked_or(self, p: *const f32, m: __m256i, fill: __m256) -> __m256 {
        // SAFETY: as for `load_masked` (masked-off lanes load as 0 and are replaced by `fill`).
        unsafe { _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m)) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: as for `load`.
        unsafe { _mm256_storeu_ps(p, v) }
    }

    #[inline(always)]
    unsafe fn store_masked(self, p: *mut f32, m: __m256i, v: __m256) {
        // SAFETY: as for `load`; masked-off lanes are not written.
        unsafe { _mm256_maskstore_ps(p, m, v) }
    }
}

impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    type Mask = __mmask16;

    #[inline(always)]
    fn mask_below(self, n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    token_ops! {
        fn zero() -> __m512 = _mm512_setzero_ps();
        fn splat(x: f32) -> __m512 = _mm512_set1_ps(x);
        fn add(a: __m512, b: __m512) -> __m512 = _mm512_add_ps(a, b);
        fn sub(a: __m512, b: __m512) -> __m512 = _mm512_sub_ps(a, b);
        fn mul(a: __m512, b: __m512) -> __m512 = _mm512_mul_ps(a, b);
        fn div(a: __m512, b: __m512) -> __m512 = _mm512_div_ps(a, b);
        fn min(a: __m512, b: __m512) -> __m512 = _mm512_min_ps(a, b);
        fn max(a: __m512, b: __m512) -> __m512 = _mm512_max_ps(a, b);
        fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 = _mm512_fmadd_ps(a, b, c);
        fn fnmadd(a: __m512, b: __m512, c: __m512) -> __m512 = _mm512_fnmadd_ps(a, b, c);
        fn round(a: __m512) -> __m512 =
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a);
        fn abs(a: __m512) -> __m512 = _mm512_abs_ps(a);
        fn select_lt(a: __m512, b: __m512, yes: __m512, no: __m512) -> __m512 =
            _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b), no, yes);
        fn add_masked(acc: __m512, m: __mmask16, x: __m512) -> __m512 = _mm512_mask_add_ps(acc, m, acc, x);
        fn reduce_add(v: __m512) -> f32 = _mm512_reduce_add_ps(v);
        fn reduce_max(v: __m512) -> f32 = _mm512_reduce_max_ps(v);
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: the token's features (AVX-512F); the caller guarantees the memory.
        unsafe { _mm512_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, m: __mmask16) -> __m512 {
        // SAFETY: as for `load`; masked-off lanes are not read.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }

    #[inline(always)]
    unsafe fn load_masked_or(self, p: *const f32, m: __mmask16, fill: __m512) -> __m512 {
        // SAFETY: as for `load_masked`.
        unsafe { _mm512_mask_loadu_ps(fill, m, p) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: as for `load`.
        unsafe { _mm512_storeu_ps(p, v) }
    }

    #[inline(always)]
    unsafe fn store_masked(self, p: *mut f32, m: __mmask16, v: __m512) {
        // SAFETY: as for `load`; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_ps(p, m, v) }
    }
}
