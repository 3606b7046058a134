//! A small SVG chart kit, written by hand so the pictures need no plotting crate: axes (linear or
//! log10), panels, named series, legends. The efficiency-table exporter and the analysis plots share it.
//!
//! Every series is drawn as `<g class="series" id="series-<slug>" data-name="<name>">` holding its
//! `<polyline>`, `<polygon>` or markers, so tests and scripts can find each series by name.

use std::fmt::Write;

/// Ten distinguishable colours (the matplotlib "tab10" set), in series order.
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf",
];

/// The `i`-th palette colour, wrapping around.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced powers of ten; values at or below zero cannot be shown.
    Log10,
}

/// One axis: what it shows and over which range.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Text beside the axis.
    pub label: String,
    /// Smallest value shown.
    pub min: f64,
    /// Largest value shown.
    pub max: f64,
    /// Linear or log10.
    pub scale: Scale,
    /// Distance between ticks of a linear axis (`None`: a round step of about five ticks).
    pub step: Option<f64>,
}

impl Axis {
    /// A linear axis covering `[min, max]`, widened outwards to round tick values.
    pub fn linear(label: impl Into<String>, min: f64, max: f64) -> Self {
        let (mut lo, mut hi) = if min.is_finite() && max.is_finite() { (min, max) } else { (0.0, 1.0) };
        if hi <= lo {
            // A flat series still needs a visible range around its value.
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            lo -= pad;
            hi += pad;
        }
        let step = nice_step((hi - lo) / 5.0);
        Self {
            label: label.into(),
            min: (lo / step).floor() * step,
            max: (hi / step).ceil() * step,
            scale: Scale::Linear,
            step: None,
        }
    }

    /// A log10 axis covering `[min, max]` (both positive), widened outwards to powers of ten.
    pub fn log(label: impl Into<String>, min: f64, max: f64) -> Self {
        let lo = if min.is_finite() && min > 0.0 { min } else { 1.0 };
        let hi = if max.is_finite() && max > lo { max } else { lo * 10.0 };
        let (a, mut b) = (lo.log10().floor(), hi.log10().ceil());
        if b <= a {
            b = a + 1.0;
        }
        Self { label: label.into(), min: 10f64.powf(a), max: 10f64.powf(b), scale: Scale::Log10, step: None }
    }

    /// A linear axis over exactly `[min, max]` (max > min) with a tick every `step`, e.g. hours of a day.
    pub fn stepped(label: impl Into<String>, min: f64, max: f64, step: f64) -> Self {
        let ok = min.is_finite() && max.is_finite() && max > min && step.is_finite() && step > 0.0;
        if !ok {
            return Self::linear(label, min, max);
        }
        Self { label: label.into(), min, max, scale: Scale::Linear, step: Some(step) }
    }

    /// Where `v` falls on the axis, 0 at `min` and 1 at `max` (outside for values out of range);
    /// `None` for values the axis cannot show (not finite, or not positive on a log axis).
    pub fn fraction(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        match self.scale {
            Scale::Linear => Some((v - self.min) / (self.max - self.min)),
            Scale::Log10 if v > 0.0 => {
                Some((v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10()))
            }
            Scale::Log10 => None,
        }
    }

    /// Tick values and their labels.
    pub fn ticks(&self) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Linear => {
                let auto = nice_step((self.max - self.min) / 5.0);
                // A step too fine for the range would make a tick per pixel or worse.
                let step = self.step.filter(|s| (self.max - self.min) / s <= 50.0).unwrap_or(auto);
                let first = (self.min / step).ceil() as i64;
                let last = (self.max / step + 1e-9).floor() as i64;
                (first..=last).map(|i| i as f64 * step).map(|v| (v, tick_label(v))).collect()
            }
            Scale::Log10 => {
                let (a, b) = (self.min.log10().round() as i32, self.max.log10().round() as i32);
                // Few decades leave room for the 2s and 5s between the powers of ten.
                let mults: &[f64] = if b - a <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
                let mut out = Vec::new();
                for e in a..=b {
                    for m in mults {
                        let v = m * 10f64.powi(e);
                        if v <= self.max * (1.0 + 1e-9) {
                            out.push((v, tick_label(v)));
                        }
                    }
                }
                out
            }
        }
    }
}

/// The round step (1, 2 or 5 times a power of ten) at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag)
}

/// A short label for a tick value: `0.05`, `250`, `12k`, `3M`.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        trim(format!("{:.1}", v / 1e6)) + "M"
    } else if a >= 1e4 {
        trim(format!("{:.1}", v / 1e3)) + "k"
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else {
        trim(format!("{v:.4}"))
    }
}

/// A rectangle in picture coordinates (pixels, y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// `n` cells of a grid of `cols` columns filling this rectangle, row by row, each inset by `pad`
    /// (left, top, right, bottom) to leave room for its axes.
    pub fn grid(&self, n: usize, cols: usize, pad: (f64, f64, f64, f64)) -> Vec<Rect> {
        let cols = cols.max(1);
        let rows = n.div_ceil(cols).max(1);
        let (cw, ch) = (self.w / cols as f64, self.h / rows as f64);
        (0..n)
            .map(|i| Rect {
                x: self.x + (i % cols) as f64 * cw + pad.0,
                y: self.y + (i / cols) as f64 * ch + pad.1,
                w: (cw - pad.0 - pad.2).max(1.0),
                h: (ch - pad.1 - pad.3).max(1.0),
            })
            .collect()
    }
}

/// A plot area with its two axes: maps data to picture coordinates.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Where the data goes (axes and labels are drawn outside it).
    pub rect: Rect,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    clip: String,
}

impl Panel {
    /// Picture coordinates of a data point; `None` when an axis cannot show it.
    pub fn map(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let fx = self.x.fraction(x)?;
        let fy = self.y.fraction(y)?;
        Some((self.rect.x + fx * self.rect.w, self.rect.y + (1.0 - fy) * self.rect.h))
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A polyline through the points.
    Line,
    /// Markers only.
    Points,
    /// A filled band between the points and a lower edge given separately (see [`Series::lower`]).
    Band,
}

/// The mark drawn at each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// No marker.
    None,
    /// A filled circle.
    Circle,
    /// An open circle.
    OpenCircle,
    /// A filled square.
    Square,
    /// An open upward triangle.
    OpenTriangle,
    /// A filled diamond.
    Diamond,
}

/// Colour, line and marker of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Stroke (and fill) colour.
    pub color: &'static str,
    /// Line width, pixels.
    pub width: f64,
    /// SVG `stroke-dasharray`, when dashed.
    pub dash: Option<&'static str>,
    /// Mark at each point.
    pub marker: Marker,
}

impl Style {
    /// A solid line of `color`, 2 px, no markers.
    pub fn line(color: &'static str) -> Self {
        Self { color, width: 2.0, dash: None, marker: Marker::None }
    }

    /// Markers of `color` only.
    pub fn points(color: &'static str, marker: Marker) -> Self {
        Self { color, width: 1.5, dash: None, marker }
    }

    /// This style dashed.
    pub fn dashed(self, dash: &'static str) -> Self {
        Self { dash: Some(dash), ..self }
    }

    /// This style with markers.
    pub fn with_marker(self, marker: Marker) -> Self {
        Self { marker, ..self }
    }
}

/// One named series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Identifier (made a slug in the `id` attribute).
    pub id: String,
    /// Name shown in the legend and in `data-name`.
    pub name: String,
    /// How it looks.
    pub style: Style,
    /// How it is drawn.
    pub kind: Kind,
    /// Data points.
    pub points: Vec<(f64, f64)>,
    /// Lower edge of a [`Kind::Band`], point for point (empty: the x axis).
    pub lower: Vec<(f64, f64)>,
    /// Text beside each point (empty: none).
    pub labels: Vec<String>,
}

impl Series {
    /// A series of `kind` with no lower edge and no labels.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        style: Style,
        kind: Kind,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Self { id: id.into(), name: name.into(), style, kind, points, lower: vec![], labels: vec![] }
    }
}

/// Text alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Left-aligned at x.
    Start,
    /// Centred on x.
    Middle,
    /// Right-aligned at x.
    End,
}

/// An SVG document being drawn.
#[derive(Debug)]
pub struct Svg {
    out: String,
    panels: usize,
    /// Boxes (x0, y0, x1, y1) of the point labels drawn so far.
    labels: Vec<(f64, f64, f64, f64)>,
}

/// `s` escaped for SVG text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` as an identifier: lowercase ASCII letters, digits and dashes.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push('x');
    }
    out
}

impl Svg {
    /// A white picture of `width` × `height` pixels with `title` centred at the top.
    pub fn new(width: f64, height: f64, title: &str) -> Self {
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">"#
        );
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        let _ = writeln!(out, r#"<rect width="{width}" height="{height}" fill="white"/>"#);
        let mut s = Self { out, panels: 0, labels: vec![] };
        s.text(width / 2.0, 24.0, 17.0, Anchor::Middle, title);
        s
    }

    /// Text at (x, y) of `size` pixels.
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: Anchor, s: &str) {
        let a = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{a}">{}</text>"#,
            escape(s)
        );
    }

    /// Draws a panel's frame, grid, ticks, axis labels and `title`, and returns it for drawing series.
    pub fn panel(&mut self, rect: Rect, x: Axis, y: Axis, title: &str) -> Panel {
        self.panels += 1;
        let clip = format!("clip{}", self.panels);
        let Rect { x: px, y: py, w, h } = rect;
        let _ = writeln!(
            self.out,
            r#"<clipPath id="{clip}"><rect x="{px:.1}" y="{py:.1}" width="{w:.1}" height="{h:.1}"/></clipPath>"#
        );
        let panel = Panel { rect, x, y, clip };
        let _ = writeln!(self.out, r#"<g class="axes">"#);
        for (v, label) in panel.x.ticks() {
            if let Some(f) = panel.x.fraction(v) {
                let gx = px + f * w;
                let _ = writeln!(
                    self.out,
                    r##"<line x1="{gx:.1}" y1="{py:.1}" x2="{gx:.1}" y2="{:.1}" stroke="#e4e4e4"/>"##,
                    py + h
                );
                self.text(gx, py + h + 15.0, 11.0, Anchor::Middle, &label);
            }
        }
        for (v, label) in panel.y.ticks() {
            if let Some(f) = panel.y.fraction(v) {
                let gy = py + (1.0 - f) * h;
                let _ = writeln!(
                    self.out,
                    r##"<line x1="{px:.1}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="#e4e4e4"/>"##,
                    px + w
                );
                self.text(px - 5.0, gy + 4.0, 11.0, Anchor::End, &label);
            }
        }
        let _ = writeln!(
            self.out,
            r#"<rect x="{px:.1}" y="{py:.1}" width="{w:.1}" height="{h:.1}" fill="none" stroke="black"/>"#
        );
        self.text(px + w / 2.0, py + h + 32.0, 12.0, Anchor::Middle, &panel.x.label);
        let (lx, ly) = (px - 48.0, py + h / 2.0);
        let _ = writeln!(
            self.out,
            r#"<text x="{lx:.1}" y="{ly:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {lx:.1} {ly:.1})">{}</text>"#,
            escape(&panel.y.label)
        );
        if !title.is_empty() {
            self.text(px + w / 2.0, py - 7.0, 13.0, Anchor::Middle, title);
        }
        let _ = writeln!(self.out, "</g>");
        panel
    }

    /// Draws `s` in `panel`, clipped to it. Points an axis cannot show are left out.
    pub fn series(&mut self, panel: &Panel, s: &Series) {
        let st = &s.style;
        let _ = writeln!(
            self.out,
            r#"<g class="series" id="series-{}" data-name="{}" clip-path="url(#{})">"#,
            slug(&s.id),
            escape(&s.name),
            panel.clip
        );
        let mapped: Vec<(f64, f64)> = s.points.iter().filter_map(|&(x, y)| panel.map(x, y)).collect();
        let dash = st.dash.map(|d| format!(r#" stroke-dasharray="{d}""#)).unwrap_or_default();
        match s.kind {
            Kind::Line if mapped.len() >= 2 => {
                let _ = writeln!(
                    self.out,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{}"{dash} stroke-linejoin="round"/>"#,
                    coords(&mapped),
                    st.color,
                    st.width
                );
            }
            Kind::Band => {
                let lower: Vec<(f64, f64)> = if s.lower.is_empty() {
                    s.points.iter().filter_map(|&(x, _)| panel.map(x, panel.y.min)).collect()
                } else {
                    s.lower.iter().filter_map(|&(x, y)| panel.map(x, y)).collect()
                };
                if mapped.len() >= 2 && lower.len() >= 2 {
                    let ring: Vec<(f64, f64)> =
                        mapped.iter().copied().chain(lower.iter().rev().copied()).collect();
                    let _ = writeln!(
                        self.out,
                        r#"<polygon points="{}" fill="{}" fill-opacity="0.8" stroke="{}" stroke-width="1"/>"#,
                        coords(&ring),
                        st.color,
                        st.color
                    );
                }
            }
            _ => {}
        }
        if st.marker != Marker::None || s.kind == Kind::Points {
            let marker = if st.marker == Marker::None { Marker::Circle } else { st.marker };
            for &(x, y) in &mapped {
                self.marker(x, y, marker, st.color);
            }
        }
        for (&(x, y), label) in s.points.iter().zip(&s.labels) {
            if let Some((mx, my)) = panel.map(x, y) {
                if !label.is_empty() {
                    self.label(mx, my, label);
                }
            }
        }
        let _ = writeln!(self.out, "</g>");
    }

    /// A point's label beside (x, y), moved around the point until it overlaps no earlier label.
    fn label(&mut self, x: f64, y: f64, label: &str) {
        // DejaVu Sans at 10 px averages about 6 px a character.
        let w = 6.0 * label.chars().count() as f64;
        let fits = |bx: f64, by: f64, placed: &[(f64, f64, f64, f64)]| {
            placed.iter().all(|&(x0, y0, x1, y1)| bx + w <= x0 || bx >= x1 || by <= y0 || by - 10.0 >= y1)
        };
        let mut spot = (x + 6.0, y - 5.0);
        'search: for step in 0..6 {
            let dy = 11.0 * step as f64;
            for (bx, by) in [
                (x + 6.0, y - 5.0 - dy),
                (x + 6.0, y + 12.0 + dy),
                (x - 6.0 - w, y - 5.0 - dy),
                (x - 6.0 - w, y + 12.0 + dy),
            ] {
                if fits(bx, by, &self.labels) {
                    spot = (bx, by);
                    break 'search;
                }
            }
        }
        self.labels.push((spot.0, spot.1 - 10.0, spot.0 + w, spot.1));
        self.text(spot.0, spot.1, 10.0, Anchor::Start, label);
    }

    fn marker(&mut self, x: f64, y: f64, m: Marker, color: &str) {
        let o = &mut self.out;
        let _ = match m {
            Marker::None => Ok(()),
            Marker::Circle => writeln!(o, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"/>"#),
            Marker::OpenCircle => writeln!(
                o,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="white" stroke="{color}" stroke-width="1.5"/>"#
            ),
            Marker::Square => writeln!(
                o,
                r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{color}"/>"#,
                x - 3.5,
                y - 3.5
            ),
            Marker::OpenTriangle => writeln!(
                o,
                r#"<path d="M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z" fill="white" stroke="{color}" stroke-width="1.5"/>"#,
                y - 5.0,
                x + 4.5,
                y + 3.5,
                x - 4.5,
                y + 3.5
            ),
            Marker::Diamond => writeln!(
                o,
                r#"<path d="M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z" fill="{color}" stroke="black" stroke-width="0.8"/>"#,
                y - 6.0,
                x + 6.0,
                y + 6.0,
                x - 6.0
            ),
        };
    }

    /// A legend of `entries` (style, name) from (x, y) downwards; returns the y below it.
    pub fn legend(&mut self, x: f64, y: f64, entries: &[(Style, Kind, String)]) -> f64 {
        let mut y = y;
        for (st, kind, name) in entries {
            let dash = st.dash.map(|d| format!(r#" stroke-dasharray="{d}""#)).unwrap_or_default();
            match kind {
                Kind::Line => {
                    let _ = writeln!(
                        self.out,
                        r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="{}"{dash}/>"#,
                        x + 24.0,
                        st.color,
                        st.width
                    );
                }
                Kind::Band => {
                    let _ = writeln!(
                        self.out,
                        r#"<rect x="{x:.1}" y="{:.1}" width="24" height="10" fill="{}" fill-opacity="0.8"/>"#,
                        y - 5.0,
                        st.color
                    );
                }
                Kind::Points => {}
            }
            if st.marker != Marker::None || *kind == Kind::Points {
                let m = if st.marker == Marker::None { Marker::Circle } else { st.marker };
                self.marker(x + 12.0, y, m, st.color);
            }
            self.text(x + 30.0, y + 4.0, 11.0, Anchor::Start, name);
            y += 17.0;
        }
        y
    }

    /// Lines of small text from (x, y) downwards; returns the y below them.
    pub fn notes(&mut self, x: f64, y: f64, lines: &[String]) -> f64 {
        let mut y = y;
        for l in lines {
            self.text(x, y, 10.5, Anchor::Start, l);
            y += 14.0;
        }
        y
    }

    /// The finished document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

fn coords(pts: &[(f64, f64)]) -> String {
    let mut s = String::with_capacity(pts.len() * 12);
    for (i, (x, y)) in pts.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{x:.1},{y:.1}");
    }
    s
}

/// Turns per-slot values into a step line: each value holds from its start to the next start
/// (the last one for `last_width`).
pub fn steps(starts: &[f64], values: &[f64], last_width: f64) -> Vec<(f64, f64)> {
    starts
        .iter()
        .zip(values)
        .enumerate()
        .flat_map(|(k, (&x, &y))| {
            let end = starts.get(k + 1).copied().unwrap_or(x + last_width);
            [(x, y), (end, y)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_outwards_and_tick() {
        let a = Axis::linear("x", 0.0, 93.0);
        assert_eq!((a.min, a.max), (0.0, 100.0));
        assert_eq!(a.ticks().len(), 6);
        let l = Axis::log("y", 0.3, 450.0);
        assert!((l.min - 0.1).abs() < 1e-12 && (l.max - 1000.0).abs() < 1e-9);
        assert_eq!(l.fraction(-1.0), None);
        assert!((l.fraction(1.0).unwrap() - 0.25).abs() < 1e-9);
        let flat = Axis::linear("x", 5.0, 5.0);
        assert!(flat.min < 5.0 && flat.max > 5.0);
        let bad = Axis::log("y", f64::NAN, 0.0);
        assert!(bad.min > 0.0 && bad.max > bad.min);
        assert_eq!(tick_label(25000.0), "25k");
        assert_eq!(tick_label(0.05), "0.05");
        assert_eq!(tick_label(2.5), "2.5");
    }

    #[test]
    fn series_are_named_groups_and_text_is_escaped() {
        let mut svg = Svg::new(400.0, 300.0, "a <b> & \"c\"");
        let p = svg.panel(
            Rect { x: 60.0, y: 40.0, w: 300.0, h: 200.0 },
            Axis::linear("x", 0.0, 10.0),
            Axis::log("y", 1.0, 100.0),
            "",
        );
        let pts = vec![(0.0, 1.0), (5.0, 0.0), (10.0, 100.0)];
        svg.series(&p, &Series::new("Best Schedule!", "best", Style::line(color(0)), Kind::Line, pts));
        let out = svg.finish();
        assert!(out.contains(r#"id="series-best-schedule""#), "{out}");
        assert!(out.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        // The point at y = 0 cannot sit on a log axis: two points remain.
        let line = out.lines().find(|l| l.starts_with("<polyline")).unwrap();
        assert_eq!(line.matches(',').count(), 2, "{line}");
        assert_eq!(slug("--"), "x");
    }

    #[test]
    fn steps_hold_each_value_over_its_slot() {
        assert_eq!(
            steps(&[0.0, 1.0], &[3.0, 4.0], 1.0),
            vec![(0.0, 3.0), (1.0, 3.0), (1.0, 4.0), (2.0, 4.0)]
        );
    }
}
