//! A minimal PNG line plotter (no plotting stack needed): several series drawn as polylines on
//! a white canvas with axes, each series in its own colour. Used by the examples to show loss
//! curves; text labels are left to the accompanying JSON.
//!
//! Depends on the `png` crate (encoder only).

use rax_core::{Error, Result};
use std::path::Path;

/// Colours of the series, in order.
pub const COLOURS: [[u8; 3]; 4] = [
    [214, 39, 40],
    [31, 119, 180],
    [44, 160, 44],
    [148, 103, 189],
];

/// Draws the series (y values against their index) into a `w` x `h` PNG at `path`.
pub fn line_plot(path: impl AsRef<Path>, series: &[&[f64]], w: usize, h: usize) -> Result<()> {
    let path = path.as_ref();
    let mut px = vec![255u8; w * h * 3];
    let (m, n_max) = (
        24usize,
        series.iter().map(|s| s.len()).max().unwrap_or(0).max(2),
    );
    let finite = series
        .iter()
        .flat_map(|s| s.iter())
        .copied()
        .filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        if x < w && y < h {
            px[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&c);
        }
    };
    for x in m..w - m {
        put(x, h - m, [0, 0, 0]);
    }
    for y in m..h - m {
        put(m, y, [0, 0, 0]);
    }
    let to_xy = |i: usize, v: f64| {
        let x = m as f64 + (w - 2 * m) as f64 * i as f64 / (n_max - 1) as f64;
        let y = (h - m) as f64 - (h - 2 * m) as f64 * (v - lo) / (hi - lo);
        (x, y)
    };
    for (k, s) in series.iter().enumerate() {
        let c = COLOURS[k % COLOURS.len()];
        for i in 1..s.len() {
            if !(s[i - 1].is_finite() && s[i].is_finite()) {
                continue;
            }
            let ((x0, y0), (x1, y1)) = (to_xy(i - 1, s[i - 1]), to_xy(i, s[i]));
            let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
            for t in 0..=steps {
                let f = t as f64 / steps as f64;
                let (x, y) = (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
                    put(x as usize + dx, y as usize + dy, c);
                }
            }
        }
    }
    let file = std::fs::File::create(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let io = |e: png::EncodingError| Error::Io {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let mut wr = enc.write_header().map_err(io)?;
    wr.write_image_data(&px).map_err(io)
}
