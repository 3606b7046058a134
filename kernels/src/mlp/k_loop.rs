//! The assembly K loop that the AVX2 and AVX-512 microkernels share around their own K step.

/// The template of a 6-row tile's K loop: `$step!(panel byte offset, x byte offset)` four times
/// per iteration (so the pointer bumps, which compete with FMAs for their ports, are three per
/// four K steps), then two `prefetcht1` lines at `{pf}` (advancing), then single steps for the
/// `kc mod 4` tail. `$row` is the panel's bytes per K row; `$o1..$o3` are `$row` times 1..3 and
/// `$row4` times 4 (`concat!` takes literals only). Operands: `{bp}` the panel block, `{p0}` rows
/// 0–3 of `x` and `{p1}` rows 4–5 (stepped 4 bytes per K step), `{n}` = kc ≥ 1, `{pf}`.
#[rustfmt::skip]
macro_rules! k_loop_asm {
    ($step:ident, $row:literal, $o1:literal, $o2:literal, $o3:literal, $row4:literal) => {
        concat!(
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
        )
    };
}
