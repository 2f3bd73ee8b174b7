//! A PNG plot of a tone's envelope, drawn pixel by pixel (no fonts): time left to right, the
//! envelope (RMS over a 20 ms window centred on each column, which smooths the beat of a
//! two-frequency tone such as 350+440 Hz) mirrored around the centre line, with a grid line
//! every 100 ms (darker every 500 ms and every second).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

use fxs::measure::SPM;

/// Plot width, pixels.
pub const WIDTH: u32 = 1200;
/// Plot height, pixels.
pub const HEIGHT: u32 = 300;

const BACKGROUND: [u8; 3] = [255, 255, 255];
const GRID_100MS: [u8; 3] = [228, 228, 228];
const GRID_500MS: [u8; 3] = [180, 180, 180];
const GRID_1S: [u8; 3] = [90, 90, 90];
const TRACE: [u8; 3] = [25, 85, 190];

/// Write the envelope of the first `ms` of `samples` (8 kHz linear) to `path` as an RGB PNG of
/// [`WIDTH`] × [`HEIGHT`]; full scale is the largest envelope value.
pub fn envelope_png(path: &Path, samples: &[i16], ms: usize) -> io::Result<()> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut img = vec![0u8; w * h * 3];
    let mut put = |x: usize, y: usize, c: [u8; 3]| {
        let i = (y * w + x) * 3;
        img[i..i + 3].copy_from_slice(&c);
    };
    let window = &samples[..(ms * SPM).min(samples.len())];
    const HALF_WINDOW_MS: usize = 10;
    let envelope: Vec<f64> = (0..w)
        .map(|x| {
            let centre = (2 * x + 1) * ms / (2 * w);
            let from = centre.saturating_sub(HALF_WINDOW_MS) * SPM;
            let to = ((centre + HALF_WINDOW_MS) * SPM).min(window.len());
            let part = window.get(from..to).unwrap_or(&[]);
            if part.is_empty() {
                return 0.0;
            }
            (part.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / part.len() as f64).sqrt()
        })
        .collect();
    let full = envelope.iter().copied().fold(1.0, f64::max);
    let mid = h / 2;
    let half = (h / 2 - 10) as f64;
    for (x, &level) in envelope.iter().enumerate() {
        let t0 = x * ms / w;
        let t1 = ((x + 1) * ms / w).max(t0 + 1);
        let grid = if (t0..t1).any(|t| t % 1000 == 0) {
            GRID_1S
        } else if (t0..t1).any(|t| t % 500 == 0) {
            GRID_500MS
        } else if (t0..t1).any(|t| t % 100 == 0) {
            GRID_100MS
        } else {
            BACKGROUND
        };
        let reach = (level / full * half).round() as usize;
        for y in 0..h {
            let c = if y.abs_diff(mid) <= reach && reach > 0 {
                TRACE
            } else if y == mid {
                GRID_500MS
            } else {
                grid
            };
            put(x, y, c);
        }
    }
    let file = BufWriter::new(File::create(path)?);
    let mut enc = png::Encoder::new(file, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(io::Error::other)?;
    writer.write_image_data(&img).map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)
}
