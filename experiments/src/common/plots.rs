//! SVG plots of a report (plotters, SVG backend only: no system fonts needed).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{ExperimentError, Result};

/// A named curve.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn plot_error(path: &Path, error: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Plot {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        low = low.min(v);
        high = high.max(v);
    }
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((high - low) * 0.05).max(1e-6);
    (low - pad, high + pad)
}

/// Approximate width in pixels of the widest of `texts` at `size` px of sans-serif (the SVG
/// backend measures no fonts; this keeps label areas wide enough without clipping).
fn widest_text<'a>(texts: impl Iterator<Item = &'a str>, size: u32) -> u32 {
    texts
        .map(|text| (text.chars().count() as f64 * f64::from(size) * 0.6).ceil() as u32)
        .max()
        .unwrap_or(0)
}

/// Lines (with point markers) of every series on shared axes; the legend sits in a panel of its
/// own to the right, so it never covers a curve.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let mut svg = String::new();
    draw_lines(&mut svg, path, title, x_label, y_label, series)?;
    write_svg(path, &svg)
}

/// Writes a rendered plot whole or not at all (a killed run leaves no half-drawn SVG).
fn write_svg(path: &Path, svg: &str) -> Result<()> {
    Ok(prefopt_data::atomic::write(path, svg)?)
}

fn draw_lines(
    svg: &mut String,
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let (x0, x1) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    const LEGEND_FONT: u32 = 12;
    let legend_width = widest_text(series.iter().map(|s| s.name.as_str()), LEGEND_FONT) + 48;
    let (plot_width, height) = (720, 440);
    let root =
        SVGBackend::with_string(svg, (plot_width + legend_width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (plot_area, legend_area) = root.split_horizontally(plot_width);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.1.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?;
        if points.len() <= 40 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
        // The legend entry: a line sample and the name, one row per series.
        let y = 48 + 20 * i as i32;
        legend_area
            .draw(&PathElement::new(
                vec![(8, y), (32, y)],
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
        legend_area
            .draw(&Text::new(
                s.name.clone(),
                (38, y - LEGEND_FONT as i32 / 2),
                ("sans-serif", LEGEND_FONT).into_font(),
            ))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One bar per method with its 95% interval as an error bar.
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

impl Bar {
    /// A bar for a mean with its interval.
    pub fn of(label: impl Into<String>, m: &prefopt_eval::stats::MeanCi) -> Self {
        Self {
            label: label.into(),
            mean: m.mean,
            low: m.low,
            high: m.high,
        }
    }
}

/// Draws `bars` into `dir/file` and returns the report's link to it.
pub fn bar_chart(
    dir: &Path,
    file: &str,
    title: &str,
    y_label: &str,
    bars: &[Bar],
    caption: &str,
) -> Result<crate::report::Plot> {
    bar_plot(&dir.join(file), title, y_label, bars)?;
    Ok(crate::report::Plot {
        file: file.into(),
        caption: caption.into(),
    })
}

/// Horizontal bars, one row per method with its label written out on the left (long method
/// names stay whole), and the 95% interval as an error bar.
pub fn bar_plot(path: &Path, title: &str, value_label: &str, bars: &[Bar]) -> Result<()> {
    let mut svg = String::new();
    draw_bars(&mut svg, path, title, value_label, bars)?;
    write_svg(path, &svg)
}

fn draw_bars(
    svg: &mut String,
    path: &Path,
    title: &str,
    value_label: &str,
    bars: &[Bar],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let (_, x1) = bounds(bars.iter().flat_map(|b| [b.mean, b.high]));
    let n = bars.len().max(1);
    const LABEL_FONT: u32 = 12;
    let label_width = widest_text(bars.iter().map(|b| b.label.as_str()), LABEL_FONT) + 24;
    let root =
        SVGBackend::with_string(svg, (label_width + 640, 30 * n as u32 + 110)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0f64..x1.max(1e-3), 0f64..n as f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            // Row i spans [n − i − 1, n − i): the first bar is drawn at the top.
            let slot = y - 0.5;
            if (slot - slot.round()).abs() < 1e-6 && slot >= 0.0 {
                let row = n - 1 - slot.round() as usize;
                labels.get(row).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_style(("sans-serif", LABEL_FONT).into_font())
        .x_desc(value_label)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, bar) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.15), (bar.mean.max(0.0), y + 0.85)],
                color.filled(),
            )))
            .map_err(|e| err(&e))?;
        if bar.low.is_finite() && bar.high.is_finite() {
            let whisker =
                |x: f64| PathElement::new(vec![(x, y + 0.4), (x, y + 0.6)], BLACK.stroke_width(1));
            chart
                .draw_series([
                    PathElement::new(
                        vec![(bar.low.max(0.0), y + 0.5), (bar.high, y + 0.5)],
                        BLACK.stroke_width(1),
                    ),
                    whisker(bar.low.max(0.0)),
                    whisker(bar.high),
                ])
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_svg_files_with_their_labels() {
        let dir = std::env::temp_dir().join(format!("prefopt-plots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lines = dir.join("lines.svg");
        line_plot(
            &lines,
            "curves",
            "update",
            "loss",
            &[Series {
                name: "S-DPO".into(),
                points: vec![(0.0, 1.0), (1.0, 0.5), (2.0, f64::NAN)],
            }],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&lines).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("S-DPO") && svg.contains("curves"));
        let bars = dir.join("bars.svg");
        bar_plot(
            &bars,
            "HR@1",
            "HR@1",
            &[
                Bar {
                    label: "SFT".into(),
                    mean: 0.2,
                    low: 0.15,
                    high: 0.25,
                },
                Bar {
                    label: "DPO".into(),
                    mean: 0.3,
                    low: f64::NAN,
                    high: f64::NAN,
                },
            ],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&bars).unwrap();
        assert!(svg.contains("SFT") && svg.contains("DPO"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
