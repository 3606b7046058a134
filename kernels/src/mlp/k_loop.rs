//! The assembly K loop that the AVX2 and AVX-512 microkernels share around their own K step.

/// A 6-row tile's K loop as one `asm!`: `$step!(panel byte offset, x byte offset)` four times per
/// iteration (so the pointer bumps, which compete with FMAs for their ports, are three per four K
/// steps), then two `prefetcht1` lines at `pf` (advancing), then single steps for the `kc mod 4`
/// tail. `$row` is the panel's bytes per K row; `$o1..$o3` are `$row` times 1..3 and `$row4` times 4
/// (`concat!` takes literals only). The macro binds the operands `$step` uses: `{bp}` the panel
/// block `$b`, `{p0}` rows 0–3 and `{p1}` rows 4–5 of `x` from `$a` (rows `$lda` floats apart,
/// `{l}` and `{l3}` = 1 and 3 rows in bytes), `{n}` = `$kc` ≥ 1; `$regs` are the kernel's vector
/// register operands. Must be expanded inside an `unsafe` block.
#[rustfmt::skip]
macro_rules! k_loop_asm {
    (
        $step:ident, [$row:literal, $o1:literal, $o2:literal, $o3:literal, $row4:literal],
        a = $a:expr, lda = $lda:expr, b = $b:expr, kc = $kc:expr, pf = $pf:expr, $($regs:tt)*
    ) => {
        std::arch::asm!(concat!(
            "cmp {n}, 4\n",
            "jb 3f\n",
            "2:\n",
            $step!("0", "0"),
            $step!($o1, "4"),
            $step!($o2, "8"),
            $step!($o3, "12"),
            "prefetcht1 byte ptr [{pf}]\n",
            "prefetcht1 byte ptr [{pf} + 64]\n",
            "add {pf}, 128\n",
            "add {p0}, 16\n",
            "add {p1}, 16\n",
            "add {bp}, ", $row4, "\n",
            "sub {n}, 4\n",
            "cmp {n}, 4\n",
            "jae 2b\n",
            "3:\n",
            "test {n}, {n}\n",
            "jz 5f\n",
            "4:\n",
            $step!("0", "0"),
            "add {p0}, 4\n",
            "add {p1}, 4\n",
            "add {bp}, ", $row, "\n",
            "dec {n}\n",
            "jnz 4b\n",
            "5:\n",
            ),
            bp = inout(reg) $b => _,
            p0 = inout(reg) $a => _,
            p1 = inout(reg) $a.add(4 * $lda) => _,
            n = inout(reg) $kc => _,
            pf = inout(reg) $pf => _,
            l = in(reg) 4 * $lda,
            l3 = in(reg) 12 * $lda,
            $($regs)*
            options(nostack, readonly),
        )
    };
}
