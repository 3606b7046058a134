//! The kernel crate's name parsers (`--pooling`, `--dtype`, `HERCULES_ISA`, activations, touch hints),
//! each round-tripping through its `Display` where it has one.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_kernels::ceiling::TouchHint;
use hercules_kernels::embedding::{DType, Pooling};
use hercules_kernels::mlp::Activation;
use hercules_kernels::Isa;

macro_rules! round_trip {
    ($t:ty, $text:expr) => {
        match $text.parse::<$t>() {
            Err(e) => hercules_fuzz::one_line(stringify!($t), &e),
            Ok(v) => {
                let shown = v.to_string();
                let back: $t = shown.parse().unwrap_or_else(|e| panic!("`{shown}` does not parse back: {e}"));
                assert_eq!(back, v);
            }
        }
    };
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    round_trip!(Pooling, text);
    round_trip!(DType, text);
    round_trip!(Isa, text);
    round_trip!(Activation, text);
    if let Err(e) = text.parse::<TouchHint>() {
        hercules_fuzz::one_line("TouchHint", &e);
    }
});
