//! `svg2png IN.svg [IN.svg ...]`: renders each SVG picture to `IN.png` beside it with resvg, at twice
//! the picture's size so text stays sharp. A dev tool for the PNGs committed under `results/pictures/`;
//! the main workspace never links resvg.

use anyhow::{bail, Context, Result};
use resvg::{tiny_skia, usvg};
use std::path::Path;

fn render(svg: &Path, opt: &usvg::Options) -> Result<()> {
    let data = std::fs::read(svg).with_context(|| svg.display().to_string())?;
    let tree = usvg::Tree::from_data(&data, opt).with_context(|| format!("{}: not SVG", svg.display()))?;
    let size = tree.size().to_int_size().scale_by(2.0).context("picture too large")?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).context("picture too large")?;
    resvg::render(&tree, tiny_skia::Transform::from_scale(2.0, 2.0), &mut pixmap.as_mut());
    let png = svg.with_extension("png");
    pixmap.save_png(&png).with_context(|| png.display().to_string())?;
    println!("{} -> {}", svg.display(), png.display());
    Ok(())
}

fn main() -> Result<()> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        bail!("usage: svg2png IN.svg [IN.svg ...] (writes IN.png beside each)");
    }
    let mut opt = usvg::Options::default();
    opt.fontdb_mut().load_system_fonts();
    for f in &files {
        render(Path::new(f), &opt)?;
    }
    Ok(())
}
