//! Timing probes behind the AVX-512 MLP kernel's design choices: the kernel's GFLOP/s with
//! everything in L1 over tile rows and K blocks, and the FMA rate of a few register-tile
//! instruction mixes. Prints one line per case; does nothing on a CPU without AVX-512.
//!
//! `cargo run --release -p hercules-kernels --example mlp_kernel_probe`

use hercules_kernels::mlp::{Activation, Linear};
use hercules_kernels::Isa;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    kernel_in_l1_speed();
    #[cfg(target_arch = "x86_64")]
    fma_mix_speed();
}

/// GFLOP/s of the AVX-512 kernel on `rows` rows of `x` against one 64-wide panel of `kc` rows, all
/// in L1. Through `Linear::forward`, so one panel and one K block per call, the rows cut into the
/// driver's M blocks.
fn kernel_in_l1_speed() {
    if !Isa::Avx512.is_available() {
        println!("kernel in L1: no AVX-512 on this CPU");
        return;
    }
    for &(rows, kc) in &[(6usize, 128usize), (6, 256), (48, 96), (48, 128), (48, 256), (96, 128)] {
        let x = vec![0.5f32; rows * kc];
        let w = vec![0.25f32; 64 * kc];
        let layer = Linear::with_isa(&w, None, kc, 64, Activation::None, Isa::Avx512).expect("layer");
        let mut y = vec![0.0f32; rows * 64];
        let iters = 200_000_000 / (rows * kc * 64);
        let t = Instant::now();
        for _ in 0..iters {
            layer.forward(black_box(&x), rows, &mut y).expect("forward");
        }
        let gf = (2 * rows * kc * 64 * iters) as f64 / t.elapsed().as_secs_f64() / 1e9;
        println!("rows {rows} kc {kc}: {gf:.1} GFLOP/s");
    }
}

/// GFLOP/s of five mixes of loads, broadcasts and FMAs in a loop over one 256-byte buffer: the
/// register tile's instruction mix without its memory traffic.
#[cfg(target_arch = "x86_64")]
fn fma_mix_speed() {
    if !Isa::Avx512.is_available() {
        println!("fma mix: no AVX-512 on this CPU");
        return;
    }
    #[repr(align(64))]
    struct Aligned([f32; 64]);
    let buf = Aligned([1.0f32; 64]);
    let buf = &buf.0;
    let iters = 20_000_000usize;
    for variant in 0..5 {
        let t = Instant::now();
        // SAFETY: reads only buf (at most its 64 floats); AVX-512 checked above.
        unsafe {
            let p = buf.as_ptr();
            match variant {
                0 => std::arch::asm!(
                    "vpxord zmm0, zmm0, zmm0", "vpxord zmm1, zmm1, zmm1", "vpxord zmm2, zmm2, zmm2", "vpxord zmm3, zmm3, zmm3", "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5", "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7", "vpxord zmm8, zmm8, zmm8", "vpxord zmm9, zmm9, zmm9", "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11", "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13", "vpxord zmm14, zmm14, zmm14", "vpxord zmm15, zmm15, zmm15",
                    "vbroadcastss zmm16, [{p}]", "vbroadcastss zmm17, [{p}]",
                    "vbroadcastss zmm18, [{p}]", "vbroadcastss zmm19, [{p}]",
                    "2:",
                    "vfmadd231ps zmm0, zmm18, zmm16", "vfmadd231ps zmm1, zmm18, zmm17",
                    "vfmadd231ps zmm2, zmm19, zmm16", "vfmadd231ps zmm3, zmm19, zmm17",
                    "vfmadd231ps zmm4, zmm18, zmm16", "vfmadd231ps zmm5, zmm18, zmm17",
                    "vfmadd231ps zmm6, zmm19, zmm16", "vfmadd231ps zmm7, zmm19, zmm17",
                    "vfmadd231ps zmm8, zmm18, zmm16", "vfmadd231ps zmm9, zmm18, zmm17",
                    "vfmadd231ps zmm10, zmm19, zmm16", "vfmadd231ps zmm11, zmm19, zmm17",
                    "vfmadd231ps zmm12, zmm18, zmm16", "vfmadd231ps zmm13, zmm18, zmm17",
                    "vfmadd231ps zmm14, zmm19, zmm16", "vfmadd231ps zmm15, zmm19, zmm17",
                    "dec {n}", "jnz 2b",
                    p = in(reg) p, n = inout(reg) iters => _, out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                    out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
                    out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
                    out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _,
                    options(nostack, readonly),
                ),
                1 => std::arch::asm!(
                    "vpxord zmm0, zmm0, zmm0", "vpxord zmm1, zmm1, zmm1", "vpxord zmm2, zmm2, zmm2", "vpxord zmm3, zmm3, zmm3", "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5", "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7", "vpxord zmm8, zmm8, zmm8", "vpxord zmm9, zmm9, zmm9", "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11", "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13", "vpxord zmm14, zmm14, zmm14", "vpxord zmm15, zmm15, zmm15",
                    "2:",
                    "vmovaps zmm16, [{p}]", "vmovaps zmm17, [{p}+64]",
                    "vbroadcastss zmm18, [{p}]", "vbroadcastss zmm19, [{p}+4]",
                    "vfmadd231ps zmm0, zmm18, zmm16", "vfmadd231ps zmm1, zmm18, zmm17",
                    "vfmadd231ps zmm2, zmm19, zmm16", "vfmadd231ps zmm3, zmm19, zmm17",
                    "vbroadcastss zmm18, [{p}+8]", "vbroadcastss zmm19, [{p}+12]",
                    "vfmadd231ps zmm4, zmm18, zmm16", "vfmadd231ps zmm5, zmm18, zmm17",
                    "vfmadd231ps zmm6, zmm19, zmm16", "vfmadd231ps zmm7, zmm19, zmm17",
                    "vbroadcastss zmm18, [{p}+16]", "vbroadcastss zmm19, [{p}+20]",
                    "vfmadd231ps zmm8, zmm18, zmm16", "vfmadd231ps zmm9, zmm18, zmm17",
                    "vfmadd231ps zmm10, zmm19, zmm16", "vfmadd231ps zmm11, zmm19, zmm17",
                    "vbroadcastss zmm18, [{p}+24]", "vbroadcastss zmm19, [{p}+28]",
                    "vfmadd231ps zmm12, zmm18, zmm16", "vfmadd231ps zmm13, zmm18, zmm17",
                    "vfmadd231ps zmm14, zmm19, zmm16", "vfmadd231ps zmm15, zmm19, zmm17",
                    "dec {n}", "jnz 2b",
                    p = in(reg) p, n = inout(reg) iters => _, out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                    out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
                    out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
                    out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _,
                    options(nostack, readonly),
                ),
                3 => std::arch::asm!(
                    "vpxord zmm0, zmm0, zmm0", "vpxord zmm1, zmm1, zmm1", "vpxord zmm2, zmm2, zmm2", "vpxord zmm3, zmm3, zmm3", "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5", "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7", "vpxord zmm8, zmm8, zmm8", "vpxord zmm9, zmm9, zmm9", "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11", "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13", "vpxord zmm14, zmm14, zmm14", "vpxord zmm15, zmm15, zmm15", "vpxord zmm16, zmm16, zmm16", "vpxord zmm17, zmm17, zmm17", "vpxord zmm18, zmm18, zmm18", "vpxord zmm19, zmm19, zmm19", "vpxord zmm20, zmm20, zmm20", "vpxord zmm21, zmm21, zmm21", "vpxord zmm22, zmm22, zmm22", "vpxord zmm23, zmm23, zmm23",
                    "2:", "vmovaps zmm24, [{p}+0]", "vmovaps zmm25, [{p}+64]", "vmovaps zmm26, [{p}+128]", "vbroadcastss zmm28, [{p}+0]", "vfmadd231ps zmm0, zmm28, zmm24", "vfmadd231ps zmm1, zmm28, zmm25", "vfmadd231ps zmm2, zmm28, zmm26", "vbroadcastss zmm29, [{p}+4]", "vfmadd231ps zmm3, zmm29, zmm24", "vfmadd231ps zmm4, zmm29, zmm25", "vfmadd231ps zmm5, zmm29, zmm26", "vbroadcastss zmm28, [{p}+8]", "vfmadd231ps zmm6, zmm28, zmm24", "vfmadd231ps zmm7, zmm28, zmm25", "vfmadd231ps zmm8, zmm28, zmm26", "vbroadcastss zmm29, [{p}+12]", "vfmadd231ps zmm9, zmm29, zmm24", "vfmadd231ps zmm10, zmm29, zmm25", "vfmadd231ps zmm11, zmm29, zmm26", "vbroadcastss zmm28, [{p}+16]", "vfmadd231ps zmm12, zmm28, zmm24", "vfmadd231ps zmm13, zmm28, zmm25", "vfmadd231ps zmm14, zmm28, zmm26", "vbroadcastss zmm29, [{p}+20]", "vfmadd231ps zmm15, zmm29, zmm24", "vfmadd231ps zmm16, zmm29, zmm25", "vfmadd231ps zmm17, zmm29, zmm26", "vbroadcastss zmm28, [{p}+24]", "vfmadd231ps zmm18, zmm28, zmm24", "vfmadd231ps zmm19, zmm28, zmm25", "vfmadd231ps zmm20, zmm28, zmm26", "vbroadcastss zmm29, [{p}+28]", "vfmadd231ps zmm21, zmm29, zmm24", "vfmadd231ps zmm22, zmm29, zmm25", "vfmadd231ps zmm23, zmm29, zmm26",
                    "dec {n}", "jnz 2b",
                    p = in(reg) p, n = inout(reg) iters => _, out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _, out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _, out("zmm20") _, out("zmm21") _, out("zmm22") _, out("zmm23") _, out("zmm24") _, out("zmm25") _, out("zmm26") _, out("zmm27") _, out("zmm28") _, out("zmm29") _,
                    options(nostack, readonly),
                ),
                4 => std::arch::asm!(
                    "vpxord zmm0, zmm0, zmm0", "vpxord zmm1, zmm1, zmm1", "vpxord zmm2, zmm2, zmm2", "vpxord zmm3, zmm3, zmm3", "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5", "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7", "vpxord zmm8, zmm8, zmm8", "vpxord zmm9, zmm9, zmm9", "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11", "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13", "vpxord zmm14, zmm14, zmm14", "vpxord zmm15, zmm15, zmm15", "vpxord zmm16, zmm16, zmm16", "vpxord zmm17, zmm17, zmm17", "vpxord zmm18, zmm18, zmm18", "vpxord zmm19, zmm19, zmm19", "vpxord zmm20, zmm20, zmm20", "vpxord zmm21, zmm21, zmm21", "vpxord zmm22, zmm22, zmm22", "vpxord zmm23, zmm23, zmm23",
                    "2:", "vmovaps zmm24, [{p}+0]", "vmovaps zmm25, [{p}+64]", "vmovaps zmm26, [{p}+128]", "vmovaps zmm27, [{p}+192]", "vbroadcastss zmm28, [{p}+0]", "vfmadd231ps zmm0, zmm28, zmm24", "vfmadd231ps zmm1, zmm28, zmm25", "vfmadd231ps zmm2, zmm28, zmm26", "vfmadd231ps zmm3, zmm28, zmm27", "vbroadcastss zmm29, [{p}+4]", "vfmadd231ps zmm4, zmm29, zmm24", "vfmadd231ps zmm5, zmm29, zmm25", "vfmadd231ps zmm6, zmm29, zmm26", "vfmadd231ps zmm7, zmm29, zmm27", "vbroadcastss zmm28, [{p}+8]", "vfmadd231ps zmm8, zmm28, zmm24", "vfmadd231ps zmm9, zmm28, zmm25", "vfmadd231ps zmm10, zmm28, zmm26", "vfmadd231ps zmm11, zmm28, zmm27", "vbroadcastss zmm29, [{p}+12]", "vfmadd231ps zmm12, zmm29, zmm24", "vfmadd231ps zmm13, zmm29, zmm25", "vfmadd231ps zmm14, zmm29, zmm26", "vfmadd231ps zmm15, zmm29, zmm27", "vbroadcastss zmm28, [{p}+16]", "vfmadd231ps zmm16, zmm28, zmm24", "vfmadd231ps zmm17, zmm28, zmm25", "vfmadd231ps zmm18, zmm28, zmm26", "vfmadd231ps zmm19, zmm28, zmm27", "vbroadcastss zmm29, [{p}+20]", "vfmadd231ps zmm20, zmm29, zmm24", "vfmadd231ps zmm21, zmm29, zmm25", "vfmadd231ps zmm22, zmm29, zmm26", "vfmadd231ps zmm23, zmm29, zmm27",
                    "dec {n}", "jnz 2b",
                    p = in(reg) p, n = inout(reg) iters => _, out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _, out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _, out("zmm20") _, out("zmm21") _, out("zmm22") _, out("zmm23") _, out("zmm24") _, out("zmm25") _, out("zmm26") _, out("zmm27") _, out("zmm28") _, out("zmm29") _,
                    options(nostack, readonly),
                ),
                _ => std::arch::asm!(
                    "vpxord zmm0, zmm0, zmm0", "vpxord zmm1, zmm1, zmm1", "vpxord zmm2, zmm2, zmm2", "vpxord zmm3, zmm3, zmm3", "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5", "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7", "vpxord zmm8, zmm8, zmm8", "vpxord zmm9, zmm9, zmm9", "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11", "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13", "vpxord zmm14, zmm14, zmm14", "vpxord zmm15, zmm15, zmm15",
                    "2:",
                    "vmovaps zmm16, [{p}]", "vmovaps zmm17, [{p}+64]",
                    "vfmadd231ps zmm0, zmm16, [{p}]{{1to16}}", "vfmadd231ps zmm1, zmm17, [{p}]{{1to16}}",
                    "vfmadd231ps zmm2, zmm16, [{p}+4]{{1to16}}", "vfmadd231ps zmm3, zmm17, [{p}+4]{{1to16}}",
                    "vfmadd231ps zmm4, zmm16, [{p}+8]{{1to16}}", "vfmadd231ps zmm5, zmm17, [{p}+8]{{1to16}}",
                    "vfmadd231ps zmm6, zmm16, [{p}+12]{{1to16}}", "vfmadd231ps zmm7, zmm17, [{p}+12]{{1to16}}",
                    "vfmadd231ps zmm8, zmm16, [{p}+16]{{1to16}}", "vfmadd231ps zmm9, zmm17, [{p}+16]{{1to16}}",
                    "vfmadd231ps zmm10, zmm16, [{p}+20]{{1to16}}", "vfmadd231ps zmm11, zmm17, [{p}+20]{{1to16}}",
                    "vfmadd231ps zmm12, zmm16, [{p}+24]{{1to16}}", "vfmadd231ps zmm13, zmm17, [{p}+24]{{1to16}}",
                    "vfmadd231ps zmm14, zmm16, [{p}+28]{{1to16}}", "vfmadd231ps zmm15, zmm17, [{p}+28]{{1to16}}",
                    "dec {n}", "jnz 2b",
                    p = in(reg) p, n = inout(reg) iters => _, out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                    out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
                    out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
                    out("zmm16") _, out("zmm17") _,
                    options(nostack, readonly),
                ),
            }
        }
        let fmas = if variant >= 3 { 24 } else { 16 };
        let gf = (iters * fmas * 32) as f64 / t.elapsed().as_secs_f64() / 1e9;
        println!("mix {variant}: {gf:.1} GFLOP/s");
    }
}
