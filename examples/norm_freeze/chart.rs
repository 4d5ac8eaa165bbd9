//! The norm-freeze example's PNG chart: named loss curves against the step, drawn with
//! plotters (title, labelled axes, legend). Text needs a TrueType font: `RAX_FONT=/path.ttf`,
//! else the usual DejaVu / Liberation / Noto locations; without one, an error saying so.

use plotters::prelude::*;
use rax::core::{Error, Result};

const FONT: &str = "sans-serif";
const FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];
const COLOURS: [RGBColor; 2] = [RGBColor(214, 39, 40), RGBColor(31, 119, 180)];

fn register_font() -> Result<()> {
    let env = std::env::var("RAX_FONT").ok();
    let paths: Vec<&str> = env.iter().map(String::as_str).chain(FONT_PATHS).collect();
    for p in &paths {
        if let Ok(bytes) = std::fs::read(p) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
    }
    Err(Error::unsupported(
        "chart text",
        format!(
            "no TrueType font (set RAX_FONT=/path/to/font.ttf); looked at {}",
            paths.join(", ")
        ),
    ))
}

/// Writes `series` (name, y per step from 1) as one `w` x `h` PNG line chart at `path`.
pub fn loss_curves(path: &str, title: &str, series: &[(&str, &[f64])]) -> Result<()> {
    register_font()?;
    let err = |e: &dyn std::fmt::Display| Error::Io {
        path: path.to_string(),
        msg: format!("drawing the chart: {e}"),
    };
    let ys = series.iter().flat_map(|(_, v)| v.iter().copied());
    let (lo, hi) = ys
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let steps = series
        .iter()
        .map(|(_, v)| v.len())
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let root = BitMapBackend::new(path, (800, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(1.0..steps, lo..hi)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .label_style((FONT, 13))
        .draw()
        .map_err(|e| err(&e))?;
    for (k, (name, ys)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points = ys.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
