//! Styles derived from the theme. Every place that means something by colour also sets a
//! modifier (bold, reversed, underline), so the monochrome `NO_COLOR` screen says the same.
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::model::{Level, LogEntry};
use crate::config::settings::ChartStyle;
use crate::config::theme::{Slot, Theme};

/// `--charts ascii`: the character of a series, the same in every chart and legend, so lines
/// differ without colour. Dimmed lines (a compared run, a baseline) are dots.
pub fn ascii_mark(slot: Slot) -> char {
    match slot {
        Slot::CleanLoss => '*',
        Slot::AdvLoss => '+',
        Slot::TestAcc => 'o',
        Slot::RobustAcc => 'x',
        Slot::Target => '=',
        Slot::Measured => '#',
        Slot::Marker => '|',
        Slot::Preview => '~',
        Slot::Cutoff => '!',
        Slot::Distances => '%',
        Slot::Budgets => '@',
        _ => '.',
    }
}

pub struct Styles<'a> {
    pub theme: &'a Theme,
    /// The characters charts are drawn with (`--charts`).
    pub charts: ChartStyle,
}

impl<'a> Styles<'a> {
    pub fn new(theme: &'a Theme) -> Self {
        Styles {
            theme,
            charts: ChartStyle::default(),
        }
    }

    pub fn with_charts(self, charts: ChartStyle) -> Self {
        Styles { charts, ..self }
    }

    fn fg(&self, slot: Slot) -> Style {
        Style::new().fg(self.theme.color(slot))
    }

    pub fn color(&self, slot: Slot) -> Color {
        self.theme.color(slot)
    }

    /// The screen: text colour and background.
    pub fn base(&self) -> Style {
        Style::new()
            .fg(self.theme.color(Slot::Fg))
            .bg(self.theme.color(Slot::Bg))
    }

    pub fn text(&self) -> Style {
        self.fg(Slot::Fg)
    }

    pub fn dim(&self) -> Style {
        if self.theme.monochrome {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            self.fg(Slot::Dim)
        }
    }

    pub fn accent(&self) -> Style {
        self.fg(Slot::Accent).add_modifier(Modifier::BOLD)
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(Slot::BorderFocus).add_modifier(Modifier::BOLD)
        } else {
            self.fg(Slot::Border)
        }
    }

    pub fn title(&self, focused: bool) -> Style {
        let s = self.fg(Slot::Title).add_modifier(Modifier::BOLD);
        if focused && self.theme.monochrome {
            s.add_modifier(Modifier::REVERSED)
        } else if focused {
            s.fg(self.theme.color(Slot::BorderFocus))
        } else {
            s
        }
    }

    pub fn selected(&self) -> Style {
        if self.theme.monochrome {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
                .fg(self.theme.color(Slot::SelectionFg))
                .bg(self.theme.color(Slot::SelectionBg))
        }
    }

    pub fn ok(&self) -> Style {
        self.fg(Slot::Ok).add_modifier(Modifier::BOLD)
    }

    pub fn warn(&self) -> Style {
        self.fg(Slot::Warn).add_modifier(Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        self.fg(Slot::Error).add_modifier(Modifier::BOLD)
    }

    pub fn series(&self, slot: Slot) -> Style {
        self.fg(slot)
    }

    /// A cell coloured by an accuracy in [0, 1]: low, middling, high. Monochrome keeps the
    /// number only (bold for high) since shades of grey would mislead.
    pub fn heat(&self, acc: f64) -> Style {
        let slot = if acc < 0.4 {
            Slot::HeatLow
        } else if acc < 0.75 {
            Slot::HeatMid
        } else {
            Slot::HeatHigh
        };
        let s = self.fg(slot);
        if self.theme.monochrome && acc >= 0.75 {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }

    /// A change: better is `ok`, worse is `error`, tiny changes are dim.
    pub fn delta(&self, d: f64) -> Style {
        if d.abs() < 0.005 {
            self.dim()
        } else if d > 0.0 {
            self.fg(Slot::Ok)
        } else {
            self.fg(Slot::Error)
        }
    }

    /// A series' mark in a legend: a heavy line in its colour, or under `--charts ascii` the
    /// character its chart draws it with ([`ascii_mark`]).
    pub fn mark(&self, slot: Slot) -> String {
        match self.charts {
            ChartStyle::Ascii => ascii_mark(slot).to_string(),
            _ => "━".to_string(),
        }
    }

    /// A message by its level.
    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Info => self.text(),
            Level::Warn => self.warn(),
            Level::Error => self.error(),
        }
    }

    /// One log entry as a line: `step 123  text` (the footer and the message log).
    pub fn log_line<'b>(&self, e: &LogEntry) -> Line<'b> {
        let mut spans = Vec::new();
        if let Some(step) = e.step {
            spans.push(Span::styled(format!("step {step:<6} "), self.dim()));
        }
        let tag = match e.level {
            Level::Info => "",
            Level::Warn => "warning: ",
            Level::Error => "error: ",
        };
        spans.push(Span::styled(
            format!("{tag}{}", e.text),
            self.level(e.level),
        ));
        Line::from(spans)
    }
}
