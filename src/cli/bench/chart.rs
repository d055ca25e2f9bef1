//! The SVG chart: one panel per measured scenario, a waterfall of its stages (each stage's p50
//! starts where the previous one ended), the anchor as a grey bar below, the target as a red
//! line. Drawn with `plotters` (SVG backend only).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;
use serde_json::Value;

use super::{stat, Scenario};

const PANEL_HEIGHT: u32 = 150;
const WIDTH: u32 = 960;

pub(super) fn draw(path: &Path, scenarios: &[Scenario], machine: &Value) -> Result<()> {
    let shown: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| s.skipped.is_none() && !s.samples.is_empty())
        .collect();
    let height = 50 + PANEL_HEIGHT * shown.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "skylark bench — p50 of each stage (waterfall); {} cpus, load average {}",
        machine["cpus"], machine["load_average"]
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    let panels = root.split_evenly((shown.len().max(1), 1));
    for (panel, s) in panels.iter().zip(&shown) {
        panel_of(panel, s)?;
    }
    root.present()?;
    Ok(())
}

fn panel_of<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    s: &Scenario,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let p50 = s.p(50.0).unwrap_or(0.0);
    let mut stages: Vec<(String, f64)> = s
        .stages
        .iter()
        .map(|(name, v)| (name.clone(), stat(v, 50.0).unwrap_or(0.0)))
        .collect();
    if stages.is_empty() {
        stages.push((s.title.clone(), p50));
    }
    let anchor = s
        .anchor
        .as_ref()
        .and_then(|a| Some((a.name.clone(), stat(&a.samples, 50.0)?)));
    let total: f64 = stages.iter().map(|(_, v)| v).sum();
    let mut xmax = total.max(p50);
    if let Some(t) = s.target {
        xmax = xmax.max(t.max);
    }
    if let Some((_, a)) = &anchor {
        xmax = xmax.max(*a);
    }
    let xmax = if xmax > 0.0 { xmax * 1.45 } else { 1.0 };
    let rows = stages.len() + usize::from(anchor.is_some());
    let verdict = match s.pass() {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "no target",
    };
    let target = s
        .target
        .map(|t| format!(", target {} ≤ {} {}", t.stat, t.max, s.unit))
        .unwrap_or_default();
    let caption = format!(
        "{} — p50 {:.3} {} (n {}{target}: {verdict})",
        s.title,
        p50,
        s.unit,
        s.samples.len()
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(6)
        .x_label_area_size(34)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..xmax, 0f64..rows as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(8)
        .x_desc(s.unit)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    // Row 0 at the top.
    let y = |row: usize| (rows - row) as f64;
    let mut start = 0.0;
    for (i, (name, value)) in stages.iter().enumerate() {
        let color = Palette99::pick(i).mix(0.85);
        let (top, bottom) = (y(i) - 0.15, y(i) - 0.85);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(start, top), (start + value, bottom)],
            color.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{name}: {}", show(*value, s.unit)),
            (start + value + xmax * 0.005, top - 0.2),
            ("sans-serif", 12),
        )))?;
        start += value;
    }
    if let Some((name, value)) = &anchor {
        let row = stages.len();
        let (top, bottom) = (y(row) - 0.15, y(row) - 0.85);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, top), (*value, bottom)],
            BLACK.mix(0.3).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("anchor, {name}: {}", show(*value, s.unit)),
            (value + xmax * 0.005, top - 0.2),
            ("sans-serif", 12),
        )))?;
    }
    if let Some(t) = s.target {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(t.max, 0.0), (t.max, rows as f64)],
            RED.stroke_width(2),
        )))?;
    }
    Ok(())
}

fn show(value: f64, unit: &str) -> String {
    if value < 10.0 {
        format!("{value:.3} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}
