//! The GPU strip under the progress bar (`g` shows or hides it): one line per GPU the run uses
//! with its utilisation and a history line of it, memory used/total and this process's share,
//! power and temperature, from the monitor's samples (`crate::monitor`, taken on the sampler's
//! own thread; the event loop hands them over). Without NVML, or for a run on the CPU, one line
//! of this process instead: CPU use with its history, threads and resident memory. A watching
//! window's process is not the run's, so its CPU figures would mislead: the line says so.
//!
//! The strip draws nothing before the first sample, so a window that never samples (the
//! snapshot tests) looks as it did without it.
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::config::settings::ChartStyle;
use crate::monitor::{GpuMetric, GpuSample, History, Sample};
use crate::tui::style::Styles;

/// Samples kept: two minutes at the event loop's one-second interval, more than the widest
/// history line shows.
pub const HISTORY: usize = 120;

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const ASCII_LEVELS: [char; 8] = ['_', '.', ':', '-', '=', '+', '*', '#'];

#[derive(Debug, Clone, PartialEq)]
pub struct GpuStrip {
    pub shown: bool,
    history: History,
}

impl Default for GpuStrip {
    fn default() -> Self {
        GpuStrip {
            shown: true,
            history: History::new(HISTORY),
        }
    }
}

/// What the strip needs to know of the window.
#[derive(Debug, Clone, Copy)]
pub struct StripContext<'a> {
    /// The run's device as its first event named it (`cpu`, `cuda:1`); None before a run.
    pub device: Option<&'a str>,
    /// The window follows a run another process trains.
    pub watching: bool,
}

impl GpuStrip {
    pub fn push(&mut self, sample: Sample) {
        self.history.push(sample);
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Rows the strip takes: none when hidden or before the first sample.
    pub fn height(&self, ctx: StripContext) -> u16 {
        match self.history.latest() {
            Some(latest) if self.shown => gpus_of_run(latest, ctx.device).len().max(1) as u16,
            _ => 0,
        }
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, ctx: StripContext, s: &Styles) {
        let Some(latest) = self.history.latest() else {
            return;
        };
        let width = area.width as usize;
        let gpus = gpus_of_run(latest, ctx.device);
        let lines: Vec<Line> = if gpus.is_empty() {
            vec![self.process_line(latest, ctx.watching, width, s)]
        } else {
            gpus.iter().map(|g| self.gpu_line(g, width, s)).collect()
        };
        frame.render_widget(Paragraph::new(lines), area);
    }

    fn gpu_line<'a>(&self, g: &GpuSample, width: usize, s: &Styles) -> Line<'a> {
        let spark_w = spark_width(width);
        let mut p = Pieces::default();
        p.add(
            10,
            vec![Span::styled(format!("cuda:{}", g.cuda_index), s.accent())],
        );
        p.add(2, vec![Span::styled(short_name(&g.name), s.text())]);
        let util = match g.utilization_pct {
            Some(u) => format!("util {u:>3}%"),
            None => "util   –".to_string(),
        };
        p.add(9, vec![Span::styled(util, s.text())]);
        let series = self
            .history
            .gpu_series(g.cuda_index, GpuMetric::Utilization);
        p.add(
            6,
            vec![Span::styled(
                sparkline(&series, spark_w, Some(100.0), s.charts),
                s.series(crate::config::theme::Slot::Gauge),
            )],
        );
        let mem = match (g.memory_used_bytes, g.memory_total_bytes) {
            (Some(u), Some(t)) => format!("mem {}/{}", gib(u), gib_unit(t)),
            (Some(u), None) => format!("mem {}", gib_unit(u)),
            _ => "mem –".to_string(),
        };
        p.add(8, vec![Span::styled(mem, s.text())]);
        let own = match g.process_memory_bytes {
            Some(b) => format!("this run {}", gib_unit(b)),
            None => "this run –".to_string(),
        };
        p.add(7, vec![Span::styled(own, s.text())]);
        if let Some(w) = g.power_watts {
            p.add(5, vec![Span::styled(format!("{w:.0} W"), s.text())]);
        }
        if let Some(t) = g.temperature_c {
            let deg = if s.charts == ChartStyle::Ascii {
                " C"
            } else {
                "°C"
            };
            p.add(4, vec![Span::styled(format!("{t}{deg}"), s.text())]);
        }
        p.line(width)
    }

    fn process_line<'a>(
        &self,
        latest: &Sample,
        watching: bool,
        width: usize,
        s: &Styles,
    ) -> Line<'a> {
        let mut p = Pieces::default();
        p.add(10, vec![Span::styled("cpu", s.accent())]);
        if watching {
            p.add(
                9,
                vec![Span::styled(
                    "the run trains in another process: its CPU is not sampled here",
                    s.dim(),
                )],
            );
            return p.line(width);
        }
        let Some(proc_) = &latest.process else {
            p.add(
                9,
                vec![Span::styled("no GPU, and /proc cannot be read", s.dim())],
            );
            return p.line(width);
        };
        let cpu = match proc_.cpu_percent {
            Some(c) => format!("bapw {c:>4.0}% CPU"),
            None => "bapw    –% CPU".to_string(),
        };
        p.add(9, vec![Span::styled(cpu, s.text())]);
        let series = self
            .history
            .series(|x| x.process.as_ref().and_then(|p| p.cpu_percent));
        p.add(
            6,
            vec![Span::styled(
                sparkline(&series, spark_width(width), Some(100.0), s.charts),
                s.series(crate::config::theme::Slot::Gauge),
            )],
        );
        p.add(
            8,
            vec![Span::styled(format!("{} threads", proc_.threads), s.text())],
        );
        p.add(
            7,
            vec![Span::styled(
                format!("resident {}", gib_unit(proc_.rss_bytes)),
                s.text(),
            )],
        );
        p.add(3, vec![Span::styled("(no GPU seen by NVML)", s.dim())]);
        p.line(width)
    }
}

/// The GPUs of `latest` the run uses: its `cuda:N` (plain `cuda` is device 0), none for a run
/// on the CPU, every visible one before a run has started.
pub fn gpus_of_run<'a>(latest: &'a Sample, device: Option<&str>) -> Vec<&'a GpuSample> {
    let wanted = match device {
        None => return latest.gpus.iter().collect(),
        Some("cuda") => Some(0),
        Some(d) => d
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok()),
    };
    match wanted {
        Some(n) => latest.gpus.iter().filter(|g| g.cuda_index == n).collect(),
        None => Vec::new(),
    }
}

/// The history line's width: wider on a wide terminal.
fn spark_width(width: usize) -> usize {
    if width >= 120 {
        24
    } else if width >= 100 {
        16
    } else {
        10
    }
}

/// The last `width` values as levels of `max` (or of the largest value shown); a gap where a
/// sample lacks the value. Block characters, or ASCII ones for `--charts ascii`.
pub fn sparkline(
    values: &[Option<f64>],
    width: usize,
    max: Option<f64>,
    style: ChartStyle,
) -> String {
    let levels = if style == ChartStyle::Ascii {
        &ASCII_LEVELS
    } else {
        &BLOCKS
    };
    let shown = &values[values.len().saturating_sub(width)..];
    let top = shown
        .iter()
        .flatten()
        .copied()
        .fold(max.unwrap_or(0.0), f64::max);
    let mut out: String = shown
        .iter()
        .map(|v| match v {
            Some(v) if top > 0.0 && v.is_finite() => {
                let i = (v.max(0.0) / top * 7.0).round() as usize;
                levels[i.min(7)]
            }
            Some(_) => levels[0],
            None => ' ',
        })
        .collect();
    // Right-aligned, so the newest sample always sits at the same place.
    let pad = width.saturating_sub(shown.len());
    out.insert_str(0, &" ".repeat(pad));
    out
}

/// "NVIDIA H100 80GB HBM3" reads "H100 80GB HBM3".
fn short_name(name: &str) -> String {
    name.strip_prefix("NVIDIA ").unwrap_or(name).to_string()
}

/// Bytes as GiB with one decimal, no unit ("34.1").
fn gib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1u64 << 30) as f64)
}

/// Bytes with a unit: MiB below one GiB, else GiB with one decimal.
fn gib_unit(b: u64) -> String {
    if b < 1 << 30 {
        format!("{} MiB", b >> 20)
    } else {
        format!("{} GiB", gib(b))
    }
}

/// Pieces of a line with priorities: when the line is too narrow the least important go
/// first, as in the header.
#[derive(Default)]
struct Pieces<'a> {
    items: Vec<(u8, Vec<Span<'a>>)>,
}

impl<'a> Pieces<'a> {
    fn add(&mut self, prio: u8, spans: Vec<Span<'a>>) {
        self.items.push((prio, spans));
    }

    fn line(mut self, width: usize) -> Line<'a> {
        const SEP: &str = "  ";
        // A leading blank, the pieces, and a separator between each two.
        let len = |items: &[(u8, Vec<Span>)]| -> usize {
            let text: usize = items
                .iter()
                .map(|(_, sp)| sp.iter().map(Span::width).sum::<usize>())
                .sum();
            1 + text + SEP.len() * items.len().saturating_sub(1)
        };
        while len(&self.items) > width && self.items.len() > 1 {
            let lowest = (0..self.items.len())
                .min_by_key(|&i| self.items[i].0)
                .unwrap_or(0);
            self.items.remove(lowest);
        }
        let mut spans = vec![Span::raw(" ")];
        for (i, (_, sp)) in self.items.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(SEP, Style::new()));
            }
            spans.extend(sp);
        }
        Line::from(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_line_scales_to_its_maximum_and_keeps_gaps() {
        let v = [Some(0.0), Some(50.0), None, Some(100.0)];
        assert_eq!(sparkline(&v, 4, Some(100.0), ChartStyle::Braille), "▁▅ █");
        assert_eq!(sparkline(&v, 4, Some(100.0), ChartStyle::Ascii), "_= #");
        // Wider than the history: right-aligned; narrower: the newest values.
        assert_eq!(sparkline(&v, 6, Some(100.0), ChartStyle::Block), "  ▁▅ █");
        assert_eq!(sparkline(&v, 2, Some(100.0), ChartStyle::Block), " █");
        // Above the expected maximum (CPU use over 100%): scaled to the largest value.
        assert_eq!(
            sparkline(
                &[Some(100.0), Some(200.0)],
                2,
                Some(100.0),
                ChartStyle::Block
            ),
            "▅█"
        );
    }

    fn gpu(i: usize) -> GpuSample {
        GpuSample::unread(i, &format!("GPU {i}"))
    }

    #[test]
    fn the_strip_shows_the_runs_device_only() {
        let s = Sample {
            at_ms: 0,
            process: None,
            gpus: vec![gpu(0), gpu(1)],
            took_us: 0,
        };
        let idx = |d| {
            gpus_of_run(&s, d)
                .iter()
                .map(|g| g.cuda_index)
                .collect::<Vec<_>>()
        };
        assert_eq!(idx(None), vec![0, 1]);
        assert_eq!(idx(Some("cuda:1")), vec![1]);
        assert_eq!(idx(Some("cuda")), vec![0]);
        assert_eq!(idx(Some("cpu")), Vec::<usize>::new());
        assert_eq!(idx(Some("cuda:7")), Vec::<usize>::new());
    }

    #[test]
    fn bytes_read_in_mib_below_a_gib() {
        assert_eq!(gib_unit(512 << 20), "512 MiB");
        assert_eq!(gib_unit(81_559 << 20), "79.6 GiB");
    }
}
