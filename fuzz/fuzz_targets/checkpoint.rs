//! `TensorFile::from_bytes` (safetensors checkpoints: header length, JSON header, tensor extents), then
//! every tensor read back and the checkpoint used as a small model's weights.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_models::weights::{materialize, TensorFile, WeightSource};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let file = match TensorFile::from_bytes("w.safetensors".into(), data.to_vec()) {
        Err(e) => return hercules_fuzz::one_line("TensorFile::from_bytes", &e),
        Ok(f) => f,
    };
    for name in file.names() {
        let _ = file.shape(name);
        if let Err(e) = file.f32(name) {
            hercules_fuzz::one_line("TensorFile::f32", &e);
        }
        if let Err(e) = file.f64(name) {
            hercules_fuzz::one_line("TensorFile::f64", &e);
        }
        if let Err(e) = file.i64(name) {
            hercules_fuzz::one_line("TensorFile::i64", &e);
        }
    }
    if let Err(e) = materialize(hercules_fuzz::spec::tiny(), &WeightSource::File(file)) {
        hercules_fuzz::one_line("materialize", &e);
    }
});
