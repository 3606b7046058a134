//! The built-in zoo: the eight DeepRecSys models and MLPerf DLRM v1/v2, shipped as spec files compiled
//! into the binary (users write their own in the same format).

use crate::error::{ModelError, Result};
use crate::spec::ModelSpec;

/// (name, spec text) of every built-in model, in the order `hercules models` lists them.
pub const ZOO: &[(&str, &str)] = &[
    ("dlrm-rmc1", include_str!("dlrm-rmc1.json")),
    ("dlrm-rmc2", include_str!("dlrm-rmc2.json")),
    ("dlrm-rmc3", include_str!("dlrm-rmc3.json")),
    ("wnd", include_str!("wnd.json")),
    ("mt-wnd", include_str!("mt-wnd.json")),
    ("ncf", include_str!("ncf.json")),
    ("din", include_str!("din.json")),
    ("dien", include_str!("dien.json")),
    ("mlperf-dlrm-v1", include_str!("mlperf-dlrm-v1.json")),
    ("mlperf-dlrm-v2", include_str!("mlperf-dlrm-v2.json")),
];

/// Names of the built-in models.
pub fn names() -> Vec<&'static str> {
    ZOO.iter().map(|(n, _)| *n).collect()
}

/// The built-in spec called `name`.
pub fn builtin(name: &str) -> Option<Result<ModelSpec>> {
    ZOO.iter().find(|(n, _)| *n == name).map(|(n, text)| ModelSpec::parse(text, &format!("zoo/{n}.json")))
}

/// A zoo model by name, or a spec file by path (`.json` or `.toml`).
pub fn resolve(name_or_path: &str) -> Result<ModelSpec> {
    if let Some(spec) = builtin(name_or_path) {
        return spec;
    }
    let path = std::path::Path::new(name_or_path);
    if path.exists() {
        return ModelSpec::from_file(path);
    }
    Err(ModelError::UnknownModel { name: name_or_path.into(), known: names().join(", ") })
}

/// Every built-in spec, parsed.
pub fn all() -> Result<Vec<ModelSpec>> {
    ZOO.iter().map(|(n, text)| ModelSpec::parse(text, &format!("zoo/{n}.json"))).collect()
}
