//! A thin layer over ratatui's `Chart`: line plots with shared axis styling, so every pane's
//! charts look alike.
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
use ratatui::Frame;

use crate::tui::style::Styles;

pub struct Plot<'a> {
    pub data: &'a [(f64, f64)],
    pub style: Style,
    /// Few points (one per epoch or evaluation): dots, so a single one still shows.
    pub sparse: bool,
}

impl<'a> Plot<'a> {
    pub fn line(data: &'a [(f64, f64)], style: Style) -> Plot<'a> {
        Plot {
            data,
            style,
            sparse: false,
        }
    }

    pub fn dots(data: &'a [(f64, f64)], style: Style) -> Plot<'a> {
        Plot {
            data,
            style,
            sparse: true,
        }
    }
}

pub struct Axes {
    pub x: [f64; 2],
    pub y: [f64; 2],
    pub x_labels: Vec<String>,
    pub y_labels: Vec<String>,
}

/// Three x labels: start, middle, end, as whole steps.
pub fn step_labels(x: [f64; 2]) -> Vec<String> {
    let mid = (x[0] + x[1]) / 2.0;
    [x[0], mid, x[1]]
        .iter()
        .map(|v| format!("{:.0}", v))
        .collect()
}

pub fn draw(frame: &mut Frame, area: Rect, plots: &[Plot], axes: Axes, s: &Styles) {
    if area.width < 8 || area.height < 3 {
        return;
    }
    let datasets: Vec<Dataset> = plots
        .iter()
        .filter(|p| !p.data.is_empty())
        .map(|p| {
            let (marker, kind) = if p.sparse || p.data.len() < 2 {
                (Marker::Dot, GraphType::Scatter)
            } else {
                (Marker::Braille, GraphType::Line)
            };
            Dataset::default()
                .marker(marker)
                .graph_type(kind)
                .style(p.style)
                .data(p.data)
        })
        .collect();
    let labels =
        |v: Vec<String>| -> Vec<Span> { v.into_iter().map(|l| Span::styled(l, s.dim())).collect() };
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .bounds(axes.x)
                .labels(labels(axes.x_labels))
                .style(s.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds(axes.y)
                .labels(labels(axes.y_labels))
                .style(s.dim()),
        )
        .legend_position(None);
    frame.render_widget(chart, area);
}

/// A vertical line at `x` from `y0` to `y1`, drawn as a two-point plot.
pub fn vline(x: f64, y0: f64, y1: f64) -> [(f64, f64); 2] {
    [(x, y0), (x, y1)]
}
