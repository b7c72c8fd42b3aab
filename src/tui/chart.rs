//! A thin layer over ratatui's `Chart`: line plots with shared axis styling, so every pane's
//! charts look alike, in the characters `--charts` chose (braille dots, half blocks, or plain
//! ASCII with one character per line and ASCII axes, for terminals whose fonts lack the rest).
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
use ratatui::Frame;

use crate::config::settings::ChartStyle;
use crate::config::theme::Slot;
use crate::tui::style::{ascii_mark, Styles};

pub struct Plot<'a> {
    pub data: &'a [(f64, f64)],
    pub style: Style,
    /// Few points (one per epoch or evaluation): dots, so a single one still shows.
    pub sparse: bool,
    /// Which series it is: its character under `--charts ascii` (and in its legend).
    pub slot: Slot,
}

impl<'a> Plot<'a> {
    pub fn line(data: &'a [(f64, f64)], style: Style, slot: Slot) -> Plot<'a> {
        Plot {
            data,
            style,
            sparse: false,
            slot,
        }
    }

    pub fn dots(data: &'a [(f64, f64)], style: Style, slot: Slot) -> Plot<'a> {
        Plot {
            data,
            style,
            sparse: true,
            slot,
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
            let scatter = p.sparse || p.data.len() < 2;
            let kind = if scatter {
                GraphType::Scatter
            } else {
                GraphType::Line
            };
            let marker = match s.charts {
                ChartStyle::Braille if scatter => Marker::Dot,
                ChartStyle::Braille => Marker::Braille,
                ChartStyle::Block => Marker::HalfBlock,
                ChartStyle::Ascii => Marker::Custom(ascii_mark(p.slot)),
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
    if s.charts == ChartStyle::Ascii {
        asciify(frame.buffer_mut(), area);
    }
}

/// The axes ratatui draws with box-drawing lines, in ASCII.
fn asciify(buf: &mut Buffer, area: Rect) {
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let Some(cell) = buf.cell_mut((x, y)) else {
                continue;
            };
            let plain = match cell.symbol() {
                "│" | "┃" => "|",
                "─" | "━" => "-",
                "└" | "┌" | "┐" | "┘" | "┼" | "├" | "┤" | "┬" | "┴" => "+",
                _ => continue,
            };
            cell.set_symbol(plain);
        }
    }
}

/// A vertical line at `x` from `y0` to `y1`, drawn as a two-point plot.
pub fn vline(x: f64, y0: f64, y1: f64) -> [(f64, f64); 2] {
    [(x, y0), (x, y1)]
}
