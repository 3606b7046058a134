//! The committed efficiency tables under `profile/` read back and render to the very bytes on disk:
//! the JSON schema and the CSV format have not drifted from what the measurements were written in.

use hercules_results::{read_table, CsvExporter, Exporter, JsonExporter};
use std::path::Path;

#[test]
fn committed_tables_render_to_their_own_bytes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("profile");
    let mut checked = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = file.unwrap().path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // `<model>.json` only: `.searches.json` and `.checkpoint.json` are other documents.
            if !name.ends_with(".json") || name.matches('.').count() != 1 {
                continue;
            }
            let table = read_table(&p).unwrap();
            let on_disk = |ext: &str| std::fs::read_to_string(p.with_extension(ext)).unwrap();
            assert_eq!(JsonExporter.render(&table), on_disk("json"), "{}", p.display());
            assert_eq!(CsvExporter.render(&table), on_disk("csv"), "{}", p.with_extension("csv").display());
            checked += 1;
        }
    }
    assert!(checked >= 16, "only {checked} committed tables found under {}", root.display());
}
