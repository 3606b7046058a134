//! Every bound the model crate puts on user input (spec files, traces, checkpoints, input pools), in
//! one place. They catch typos and hostile files before anything is allocated; none is a limit of the
//! kernels, and real models sit far below each.

/// Largest table a spec may ask for (rows × dim elements); beyond it the spec is surely a typo.
pub const MAX_TABLE_ELEMS: u64 = 1 << 40;
/// Largest layer width, embedding dim, dense feature count or RNN hidden width.
pub const MAX_WIDTH: usize = 1 << 16;
/// Largest bag (indices per table per sample), in a spec or a trace line.
pub const MAX_LOOKUPS: usize = 1 << 14;
/// Most tables a model may have (over all groups); also the bound on a trace's table numbers.
pub const MAX_TABLES: usize = 1 << 14;
/// Most task heads.
pub const MAX_TASKS: usize = 64;
/// Most layers of one MLP, and of one RNN block.
pub const MAX_LAYERS: usize = 64;
/// Most DCNv2 cross layers.
pub const MAX_CROSS_LAYERS: usize = 64;
/// Most dense parameters (MLPs, cross layers, blocks) of a model, in elements: 64 GiB of f32. Checked
/// with overflow-free arithmetic, so a spec cannot wrap the sum around to a small number.
pub const MAX_DENSE_PARAMS: u64 = 1 << 34;
/// Largest spec file read (a spec is a few KiB; this stops a wrong path from loading a data file).
pub const MAX_SPEC_BYTES: u64 = 16 << 20;
/// Largest trace file read. The parsed bags take several times the text's bytes, and a pool replays
/// only sets × batch bags per table, so larger traces would mostly go unused.
pub const MAX_TRACE_BYTES: u64 = 256 << 20;
/// Largest batch an input set is generated for (the harness's `--batch` bound).
pub const MAX_BATCH: usize = 1 << 16;
/// Most pre-generated input sets in a pool (`--input-sets`).
pub const MAX_INPUT_SETS: usize = 1 << 12;
/// Largest input pool, in bytes (dense features, indices, offsets and lengths of every set); the pool
/// must also fit in the memory the OS says is available.
pub const MAX_INPUT_POOL_BYTES: u64 = 16 << 30;

/// Reads at most `max` bytes of `path`; a longer file (or an endless one such as `/dev/zero`) is an
/// error naming `what` and the bound, found without reading past the bound.
pub(crate) fn read_bounded(path: &std::path::Path, max: u64, what: &str) -> crate::Result<Vec<u8>> {
    use std::io::Read;
    let p = path.display().to_string();
    let io = |source| crate::ModelError::Io { path: p.clone(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes, the most {what} may hold"),
        )));
    }
    Ok(bytes)
}
