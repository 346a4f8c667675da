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

/// Lines (with point markers) of every series on shared axes, a legend top right.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let (x0, x1) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
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
            .map_err(|e| err(&e))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        if points.len() <= 40 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
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

pub fn bar_plot(path: &Path, title: &str, y_label: &str, bars: &[Bar]) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let (_, y1) = bounds(bars.iter().flat_map(|b| [b.mean, b.high]));
    let n = bars.len().max(1);
    let root = SVGBackend::new(path, (80 * n as u32 + 160, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(90)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..n as f64, 0f64..y1.max(1e-3))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&|x| {
            let slot = x - 0.5;
            if (slot - slot.round()).abs() < 1e-6 && slot >= 0.0 {
                labels
                    .get(slot.round() as usize)
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_label_style(
            ("sans-serif", 11)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_desc(y_label)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, bar) in bars.iter().enumerate() {
        let x = i as f64;
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, bar.mean.max(0.0))],
                color.filled(),
            )))
            .map_err(|e| err(&e))?;
        if bar.low.is_finite() && bar.high.is_finite() {
            let whisker =
                |y: f64| PathElement::new(vec![(x + 0.4, y), (x + 0.6, y)], BLACK.stroke_width(1));
            chart
                .draw_series([
                    PathElement::new(
                        vec![(x + 0.5, bar.low.max(0.0)), (x + 0.5, bar.high)],
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
