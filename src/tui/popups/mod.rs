//! Popups over the panes, one module each: help, the message log, a question, the preset
//! picker, the preset-name prompt, a preset's problems, the run list and the differences from
//! the named preset. Each owns its state,
//! its keys and its drawing; while one is open it has every key (Ctrl-C aside), and what it
//! wants done comes back as an [`Outcome`] for the app.
pub mod confirm;
pub mod differences;
pub mod frame;
pub mod help;
pub mod messages;
pub mod preset_picker;
pub mod problems;
pub mod run_list;
pub mod save_as;

use ratatui::Frame;

use super::keymap::{Action, Mode};
use super::model::{Level, MessageLog};
use super::style::Styles;
use crate::config::store::{PresetEntry, Store};
use confirm::{Answer, Confirm, ConfirmKind};
use differences::Differences;
use help::Help;
use messages::Messages;
use preset_picker::{PickerReply, PresetPicker};
use problems::Problems;
use run_list::{RunList, RunListContext, RunListReply};
use save_as::{SaveAs, SaveReply};

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help(Help),
    Messages(Messages),
    Confirm(Confirm),
    Picker(PresetPicker),
    SaveAs(SaveAs),
    Problems(Problems),
    Runs(RunList),
    Differences(Differences),
}

/// What the popups read of the window.
pub struct PopupContext<'a> {
    pub log: &'a MessageLog,
    pub store: &'a Store,
    /// The preset on screen, as the picker names it.
    pub preset_label: &'a str,
    pub runs: RunListContext<'a>,
}

/// What a key in a popup asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The popup stays (it may have changed).
    Stay,
    Close,
    /// A question was answered (the popup closes).
    Answered(ConfirmKind, Answer),
    /// Ask this question in place of the popup.
    Ask(ConfirmKind),
    /// Open a preset from the picker.
    OpenPreset(PresetEntry),
    /// Save the settings as the user preset of that name.
    Save(String),
    /// Read the runs folder again for the run list.
    RefreshRuns,
    /// Close, then watch the run of that name.
    Watch(String),
    /// Close, then pin the run of that name for comparison.
    Compare(String),
    /// Close with a message.
    Note(Level, String),
}

impl Popup {
    /// Which keymap applies while it is open.
    pub fn mode(&self) -> Mode {
        match self {
            Popup::SaveAs(_) => Mode::Editing,
            _ => Mode::Dialog,
        }
    }

    pub fn on_action(&mut self, a: Action, ctx: &PopupContext) -> Outcome {
        let close = |done: bool| if done { Outcome::Close } else { Outcome::Stay };
        match self {
            Popup::Help(h) => close(h.on_action(a)),
            Popup::Problems(p) => close(p.on_action(a)),
            Popup::Differences(d) => close(d.on_action(a)),
            Popup::Messages(m) => close(m.on_action(a, ctx.log.len())),
            Popup::Confirm(c) => match c.on_action(a) {
                Some(answer) => Outcome::Answered(c.kind.clone(), answer),
                None => Outcome::Stay,
            },
            Popup::Picker(p) => match p.on_action(a) {
                PickerReply::Stay => Outcome::Stay,
                PickerReply::Close => Outcome::Close,
                PickerReply::Open(e) => Outcome::OpenPreset(e),
            },
            Popup::SaveAs(p) => match p.on_action(a, ctx.store) {
                SaveReply::Stay => Outcome::Stay,
                SaveReply::Close => Outcome::Close,
                SaveReply::Save(name) => Outcome::Save(name),
                SaveReply::AskOverwrite(name) => Outcome::Ask(ConfirmKind::Overwrite { name }),
            },
            Popup::Runs(list) => match list.on_action(a, &ctx.runs) {
                RunListReply::Stay => Outcome::Stay,
                RunListReply::Close => Outcome::Close,
                RunListReply::Refresh => Outcome::RefreshRuns,
                RunListReply::Watch(name) => Outcome::Watch(name),
                RunListReply::Compare(name) => Outcome::Compare(name),
                RunListReply::AskResume(kind) => Outcome::Ask(kind),
                RunListReply::Note(level, text) => Outcome::Note(level, text),
            },
        }
    }

    pub fn render(&self, frame: &mut Frame, ctx: &PopupContext, s: &Styles) {
        let area = frame.area();
        let config_dir = ctx.store.config_dir();
        match self {
            Popup::Help(h) => h.render(frame, area, s),
            Popup::Messages(m) => m.render(frame, area, ctx.log, s),
            Popup::Confirm(c) => c.render(frame, area, s),
            Popup::Picker(p) => p.render(frame, area, ctx.preset_label, config_dir, s),
            Popup::SaveAs(p) => p.render(frame, area, config_dir, s),
            Popup::Problems(p) => p.render(frame, area, s),
            Popup::Differences(d) => d.render(frame, area, s),
            Popup::Runs(list) => list.render(frame, area, &ctx.runs, s),
        }
    }
}
