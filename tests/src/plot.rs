//! A PNG plot of a tone as a phone heard it, readable on its own: the level in dBm0 (RMS over
//! 20 ms centred on each column, which smooths the beat of a two-frequency tone such as
//! 350+440 Hz) against the time in ms, every burst of the cadence found marked at its on time
//! (green) and off time (red) with the times written above the plot, and a title naming the
//! tone (the caller's heading: which tone of which plan), the cadence found and the
//! frequencies. Text is drawn with an 8×8 bitmap font (font8x8), so no font file is needed.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

use font8x8::legacy::BASIC_LEGACY;

use crate::tone::{describe_tones, Cadence, Recording};

/// Left edge of the plot area (room for the level labels), pixels.
const LEFT: usize = 72;
/// Plot area width, pixels: the whole time span.
const PLOT_W: usize = 1200;
/// Top edge of the plot area (room for the title and the burst times), pixels.
const TOP: usize = 96;
/// Plot area height, pixels: [`FLOOR_DBM0`] to 0 dBm0.
const PLOT_H: usize = 260;
/// Image width, pixels.
pub const WIDTH: u32 = (LEFT + PLOT_W + 28) as u32;
/// Image height, pixels.
pub const HEIGHT: u32 = (TOP + PLOT_H + 36) as u32;

/// Bottom of the level axis, dBm0 (top: 0 dBm0); a column without signal sits on it.
const FLOOR_DBM0: f64 = -60.0;
/// Level grid step, dB.
const LEVEL_STEP_DB: usize = 10;
/// Half of the level window, ms.
const HALF_WINDOW_MS: usize = 10;

const BACKGROUND: [u8; 3] = [255, 255, 255];
const GRID_FINE: [u8; 3] = [232, 232, 232];
const GRID_COARSE: [u8; 3] = [190, 190, 190];
const AXIS: [u8; 3] = [60, 60, 60];
const FILL: [u8; 3] = [196, 214, 242];
const TRACE: [u8; 3] = [25, 85, 190];
const ON: [u8; 3] = [20, 140, 60];
const OFF: [u8; 3] = [200, 40, 40];
const TEXT: [u8; 3] = [0, 0, 0];

/// An RGB image being drawn.
struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self {
            px: BACKGROUND.repeat(WIDTH as usize * HEIGHT as usize),
        }
    }

    /// Set one pixel; outside the image: nothing.
    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < WIDTH as usize && y < HEIGHT as usize {
            let i = (y * WIDTH as usize + x) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    /// `text` (ASCII; others as `?`) with its top left at (`x`, `y`), each font pixel drawn as
    /// `scale` × `scale`.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, c: [u8; 3]) {
        for (i, ch) in text.chars().enumerate() {
            let glyph = BASIC_LEGACY[if ch.is_ascii() {
                ch as usize
            } else {
                '?' as usize
            }];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        for d in 0..scale * scale {
                            self.put(
                                x + (i * 8 + col) * scale + d % scale,
                                y + row * scale + d / scale,
                                c,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Width of `text` at scale 1, pixels.
fn text_width(text: &str) -> usize {
    text.chars().count() * 8
}

/// Write the plot of the first `ms` of `rec` to `path` as an RGB PNG of [`WIDTH`] ×
/// [`HEIGHT`]; `heading` names the tone: its first line (e.g. `Stutter dial tone, tone plan
/// us`, up to 80 characters) in large type, its second (e.g. the plan's description, up to 160)
/// below in small type, further lines left out. Returns the cadence found, as the title shows
/// it.
pub fn envelope_png(path: &Path, rec: &Recording, ms: usize, heading: &str) -> io::Result<Cadence> {
    let (canvas, cadence) = draw(rec, ms, heading);
    let file = BufWriter::new(File::create(path)?);
    let mut enc = png::Encoder::new(file, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(io::Error::other)?;
    writer
        .write_image_data(&canvas.px)
        .map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)?;
    Ok(cadence)
}

/// The column of time `t` ms of a span of `ms`.
fn column(t: usize, ms: usize) -> usize {
    LEFT + (t * PLOT_W / ms.max(1)).min(PLOT_W - 1)
}

/// The row of level `dbm0`, clamped to the axis.
fn row(dbm0: f64) -> usize {
    let f = (dbm0 / FLOOR_DBM0).clamp(0.0, 1.0);
    TOP + (f * (PLOT_H - 1) as f64).round() as usize
}

fn draw(rec: &Recording, ms: usize, heading: &str) -> (Canvas, Cadence) {
    let ms = ms.max(1);
    let heard = Recording {
        law: rec.law,
        samples: rec.slice_ms(0, ms).to_vec(),
    };
    let cadence = heard.cadence();
    let mut c = Canvas::new();
    // Grid: every 100 ms (darker every 500 ms) and every 10 dB.
    for t in (0..=ms).step_by(100) {
        let colour = if t % 500 == 0 { GRID_COARSE } else { GRID_FINE };
        for y in TOP..TOP + PLOT_H {
            c.put(column(t, ms), y, colour);
        }
    }
    for db in (0..=(-FLOOR_DBM0) as usize).step_by(LEVEL_STEP_DB) {
        for x in LEFT..LEFT + PLOT_W {
            c.put(x, row(-(db as f64)), GRID_FINE);
        }
    }
    // The level: filled from the floor up, its top drawn darker.
    let full = heard.law.peak_for_dbm0(0.0) / std::f64::consts::SQRT_2;
    for x in 0..PLOT_W {
        let centre = (2 * x + 1) * ms / (2 * PLOT_W);
        let part = heard.slice_ms(
            centre.saturating_sub(HALF_WINDOW_MS),
            centre + HALF_WINDOW_MS,
        );
        let rms = if part.is_empty() {
            0.0
        } else {
            (part.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / part.len() as f64).sqrt()
        };
        let level = if rms > 0.0 {
            20.0 * (rms / full).log10()
        } else {
            FLOOR_DBM0
        };
        let top = row(level);
        if top < TOP + PLOT_H - 1 {
            for y in top..TOP + PLOT_H {
                c.put(LEFT + x, y, if y <= top + 1 { TRACE } else { FILL });
            }
        }
    }
    // Each burst's on and off times: dashed lines through the plot, the times above it
    // (on times in the upper row, off times in the lower), a label left out where it would
    // overlap the one before it.
    let mut marks: Vec<(usize, [u8; 3], String)> = Vec::new();
    for b in &cadence.bursts {
        marks.push((b.start_ms, ON, b.start_ms.to_string()));
        marks.push((
            b.start_ms + b.on_ms,
            OFF,
            (b.start_ms + b.on_ms).to_string(),
        ));
    }
    if let Some((start, _)) = cadence.steady {
        marks.push((start, ON, format!("{start} steady")));
    }
    let mut row_end = [0usize; 2];
    for (t, colour, label) in &marks {
        let x = column(*t, ms);
        for y in (TOP..TOP + PLOT_H).filter(|y| (y - TOP) % 8 < 5) {
            c.put(x, y, *colour);
        }
        let lane = usize::from(*colour == OFF);
        let number = label.split(' ').next().unwrap_or("");
        let x0 = x.saturating_sub(text_width(number) / 2);
        if x0 >= row_end[lane] {
            c.text(x0, TOP - 30 + 14 * lane, label, 1, *colour);
            row_end[lane] = x0 + text_width(label) + 8;
        }
    }
    // Axes, ticks and their labels.
    for y in TOP..TOP + PLOT_H {
        c.put(LEFT - 1, y, AXIS);
    }
    for x in LEFT - 1..LEFT + PLOT_W {
        c.put(x, TOP + PLOT_H, AXIS);
    }
    for db in (0..=(-FLOOR_DBM0) as usize).step_by(LEVEL_STEP_DB) {
        let label = if db == 0 {
            "0".into()
        } else {
            format!("-{db}")
        };
        let y = row(-(db as f64));
        c.text(
            LEFT - 8 - text_width(&label),
            y.saturating_sub(4),
            &label,
            1,
            TEXT,
        );
        for x in LEFT - 5..LEFT - 1 {
            c.put(x, y, AXIS);
        }
    }
    c.text(8, TOP - 12, "dBm0", 1, TEXT);
    for t in (0..=ms).step_by(100) {
        let x = column(t, ms);
        for y in TOP + PLOT_H..TOP + PLOT_H + 4 {
            c.put(x, y, AXIS);
        }
        if t % 500 == 0 {
            let label = t.to_string();
            c.text(
                x - text_width(&label) / 2,
                TOP + PLOT_H + 8,
                &label,
                1,
                TEXT,
            );
        }
    }
    let axis = "time (ms)";
    c.text(
        LEFT + (PLOT_W - text_width(axis)) / 2,
        TOP + PLOT_H + 22,
        axis,
        1,
        TEXT,
    );
    // Title: the heading, the cadence found, the frequencies and what the marks mean.
    let tones = match (cadence.steady, cadence.bursts.first()) {
        (Some((start, _)), _) => heard.tones(start + 50, ms),
        (None, Some(b)) => heard.tones(b.start_ms, b.start_ms + b.on_ms),
        (None, None) => Vec::new(),
    };
    let mut lines = heading.lines();
    c.text(8, 8, lines.next().unwrap_or(""), 2, TEXT);
    c.text(8, 28, lines.next().unwrap_or(""), 1, TEXT);
    c.text(
        8,
        40,
        &format!("cadence found: {}", cadence.summary()),
        1,
        TEXT,
    );
    c.text(
        8,
        52,
        &format!(
            "tones: {}; level: RMS over {} ms; marks: burst on (green) / off (red), ms",
            describe_tones(&tones),
            2 * HALF_WINDOW_MS
        ),
        1,
        TEXT,
    );
    (c, cadence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fxs::measure::SPM;
    use fxs::{CompiledPlan, Law, ToneGen, ToneKind};

    impl Canvas {
        fn get(&self, x: usize, y: usize) -> [u8; 3] {
            let i = (y * WIDTH as usize + x) * 3;
            [self.px[i], self.px[i + 1], self.px[i + 2]]
        }
    }

    /// The first `ms` of plan `us`'s stutter dial tone, as a phone hears it.
    fn stutter(ms: usize) -> Recording {
        let plan = CompiledPlan::new(&fxs::cptone("us").expect("plan us"), Law::Mulaw);
        let mut gen = ToneGen::new(ToneKind::Stutter);
        let mut rec = Recording::new(Law::Mulaw);
        let mut block = [0u8; fxs::BLOCK_SAMPLES];
        while rec.samples.len() < ms * SPM {
            gen.fill(&plan, &mut block);
            rec.push_block(&block);
        }
        rec
    }

    #[test]
    fn bursts_are_marked_at_their_times_under_a_title() {
        let (c, cadence) = draw(&stutter(3000), 3000, "stutter dial tone, tone plan us");
        assert_eq!(
            cadence.summary(),
            "10 burst(s), on 100 ms / off 100 ms, then steady tone from 2000 ms"
        );
        let dashed = TOP + 2;
        // 400 ms: a burst starts (green), 500 ms: it ends (red), 2000 ms: the steady tone.
        assert_eq!(c.get(column(400, 3000), dashed), ON);
        assert_eq!(c.get(column(500, 3000), dashed), OFF);
        assert_eq!(c.get(column(2000, 3000), dashed), ON);
        // -13 dBm0 per component is -10 dBm0 in all: the trace reaches the -10 line, not 0.
        let mid_burst = column(450, 3000);
        let top = (TOP..TOP + PLOT_H)
            .find(|&y| c.get(mid_burst, y) == TRACE)
            .expect("a trace mid-burst");
        assert!(top.abs_diff(row(-10.0)) <= 3, "{top} vs {}", row(-10.0));
        // A gap sits on the floor.
        assert!((TOP..TOP + PLOT_H - 1).all(|y| c.get(column(150, 3000), y) != TRACE));
        // The title and the labels are drawn.
        assert!((8..24).any(|y| (8..200).any(|x| c.get(x, y) == TEXT)));
        assert!((TOP - 30..TOP - 22).any(|y| (0..WIDTH as usize).any(|x| c.get(x, y) == ON)));
        assert!((TOP - 16..TOP - 8).any(|y| (0..WIDTH as usize).any(|x| c.get(x, y) == OFF)));
    }
}
