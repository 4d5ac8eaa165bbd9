//! Line charts as PNG files, drawn with the `plotters` crate: each chart has a title, labelled
//! axes with tick labels, a mesh and a legend naming its series. [`chart_grid`] draws several
//! panels in one image (what `rax train` and `rax plot` write).
//!
//! Text is rendered with a TrueType font found on the machine (`RAX_FONT=/path/font.ttf`, else
//! the usual DejaVu / Liberation / Noto locations); without one, a chart is an error saying so.
//!
//! Depends on rax-core (errors) and `plotters` (bitmap backend, ab_glyph text).

use plotters::prelude::*;
use rax_core::{Error, Result};
use std::path::Path;
use std::sync::OnceLock;

/// Colours of the series, in order.
pub const COLOURS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// One named series of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The points; non-finite y values are skipped (the line breaks there).
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from its label and points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// One chart: title, axis labels and series.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Title drawn above the chart.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
}

const FONT_FAMILY: &str = "sans-serif";

const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Registers a TrueType font with plotters once per process; the error says where it looked.
fn ensure_font() -> Result<()> {
    static FONT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let mut tried = Vec::new();
        let env = std::env::var("RAX_FONT").ok();
        for p in env.iter().map(String::as_str).chain(FONT_PATHS) {
            tried.push(p.to_string());
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "no TrueType font for chart text (set RAX_FONT=/path/to/font.ttf, or install \
             fonts-dejavu-core); looked at {}",
            tried.join(", ")
        ))
    })
    .clone()
    .map_err(|msg| Error::unsupported("chart text", msg))
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        msg: format!("drawing the chart: {e}"),
    }
}

/// The (lo, hi) range of finite values, widened when empty or flat.
fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vals
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        (lo - pad, hi + pad)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    c: &Chart,
    path: &Path,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = range(c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = range(c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, (FONT_FAMILY, 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .label_style((FONT_FAMILY, 13))
        .axis_desc_style((FONT_FAMILY, 15))
        .y_label_formatter(&|v| format_tick(*v))
        .x_label_formatter(&|v| format_tick(*v))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    let mut any = false;
    for (k, s) in c.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        // Break the line at non-finite points: draw each finite run separately.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                if let Some(r) = runs.last_mut() {
                    r.push((x, y));
                }
            } else if runs.last().is_some_and(|r| !r.is_empty()) {
                runs.push(Vec::new());
            }
        }
        let mut first = true;
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let style = ShapeStyle::from(&colour).stroke_width(2);
            let drawn = if run.len() == 1 {
                chart
                    .draw_series(run.iter().map(|&p| Circle::new(p, 3, style.filled())))
                    .map_err(|e| plot_err(path, e))?
            } else {
                chart
                    .draw_series(LineSeries::new(run, style))
                    .map_err(|e| plot_err(path, e))?
            };
            if first {
                drawn.label(&s.name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
                first = false;
                any = true;
            }
        }
    }
    if any {
        chart
            .configure_series_labels()
            .label_font((FONT_FAMILY, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| plot_err(path, e))?;
    }
    Ok(())
}

/// A tick label: plain decimals for ordinary magnitudes, scientific notation otherwise.
pub fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if v.fract() == 0.0 && a < 1e7 {
        format!("{v:.0}")
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Writes several charts as panels of one `w` x `h` PNG, `cols` panels per row.
pub fn chart_grid(
    path: impl AsRef<Path>,
    charts: &[Chart],
    cols: usize,
    w: u32,
    h: u32,
) -> Result<()> {
    let path = path.as_ref();
    ensure_font()?;
    let cols = cols.clamp(1, charts.len().max(1));
    let rows = charts.len().div_ceil(cols).max(1);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let panels = root.split_evenly((rows, cols));
    for (c, area) in charts.iter().zip(panels.iter()) {
        draw_chart(area, c, path)?;
    }
    root.present().map_err(|e| plot_err(path, e))
}
