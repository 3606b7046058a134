//! The versioned JSON schema shared by the `hercules` harness (the writer) and
//! `hercules-analysis` (the reader). Neither binary defines its own copy.

pub mod ceilings;
pub mod export;
pub mod host;
pub mod io;
pub mod names;
pub mod plot;
pub mod schedule;
pub mod sizes;
pub mod stats;
pub mod synthetic;
pub mod table;

pub use ceilings::{Ceilings, KernelRecord, KernelReport, Measured, RooflineReport, BENCH_SCHEMA_VERSION};
pub use export::{all_exporters, CsvExporter, Exporter, JsonExporter, MarkdownExporter, SvgExporter};
pub use host::{fnv1a64, CacheInfo, GpuInfo, HostFingerprint};
pub use io::{
    one_line, parse_document, parse_table, read_document, read_table, read_text_bounded, write_bytes_atomic,
    write_json_atomic, SchemaError, VersionFound, MAX_DOCUMENT_BYTES,
};
pub use names::{folder_name, is_folder_name, MAX_NAME_LEN, NAME_RULE};
pub use schedule::{Schedule, ScheduleError};
pub use sizes::{clip_size, SizeError, MAX_SIZE, MIN_SIZE, MLPERF_TABLE};
pub use synthetic::{synthetic_table, SyntheticSpec};
pub use table::{
    interpolate_tail, tail_name, Counter, CurvePoint, EfficiencyTable, ModelInfo, Modelled, Power,
    PowerSource, Provenance, QpsInterval, QuerySizes, ScheduleResult, Search, SearchPoint, ServerType, Sla,
    TailInterval, OLDEST_TABLE_SCHEMA_VERSION, TABLE_KIND, TABLE_SCHEMA_VERSION,
};
