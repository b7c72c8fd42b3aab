//! Key actions: what each one does to the view, to the settings being edited, and which
//! requests it leaves for the runtime (engine commands, starting a run, quitting). Nothing
//! here touches the terminal or the engine directly, so every transition is unit-testable.
use crossterm::event::KeyEvent;

use crate::train::Command;

use super::app::{App, Level, Request, RunState};
use super::components::pane::{Context, Handled, PaneRequest};
use super::components::schedule::fields::{fields_for, Field};
use super::keymap::{self, Action, Mode};
use super::popups::{Answer, Confirm, ConfirmKind, Popup};
use super::text_input::TextInput;

impl App {
    /// Which keymap applies now.
    pub fn input_mode(&self) -> Mode {
        match &self.ui.popup {
            Some(Popup::SaveAs { .. }) => Mode::Editing,
            Some(_) => Mode::Dialog,
            None if self.ui.capturing().is_some() => Mode::Editing,
            None => Mode::Normal,
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        if let Some(a) = keymap::map(key, self.input_mode()) {
            self.handle(a);
        }
    }

    pub fn handle(&mut self, a: Action) {
        if a == Action::Interrupt {
            self.interrupt();
        } else if self.ui.popup.is_some() {
            self.handle_popup(a);
        } else {
            self.handle_normal(a);
        }
    }

    /// The runtime could not spawn the engine.
    pub fn start_failed(&mut self, message: &str) {
        self.run.state = if self.run.started.is_some() {
            RunState::Failed
        } else {
            RunState::Idle
        };
        self.note(Level::Error, format!("could not start the run: {message}"));
    }

    /// The fields the Schedule pane shows for the current preset.
    pub fn fields(&self) -> Vec<Field> {
        fields_for(&self.run.preset)
    }

    fn send(&mut self, c: Command) {
        self.request(Request::Engine(c));
    }

    fn interrupt(&mut self) {
        let confirming_quit = matches!(
            &self.ui.popup,
            Some(Popup::Confirm(Confirm {
                kind: ConfirmKind::Quit,
                ..
            }))
        );
        if self.quit_after_stop || self.watching {
            // Second interrupt while stopping: leave now, the engine keeps what it wrote.
            // A watching window has nothing to stop.
            self.request(Request::Quit);
        } else if confirming_quit {
            self.answer(ConfirmKind::Quit, Answer::Yes);
        } else {
            self.ui.popup = None;
            self.ui.cancel_input();
            self.handle_normal(Action::Quit);
        }
    }

    fn handle_normal(&mut self, a: Action) {
        let ctx = Context {
            run: &self.run,
            compare: self.compare.as_ref(),
            watching: self.watching,
            stop_requested: self.stop_requested,
        };
        match self.ui.on_action(a, &ctx) {
            Handled::No => {}
            Handled::Yes => return,
            Handled::Do(r) => return self.pane_request(r),
        }
        if self.watching {
            if let Some(what) = watch_refusal(a) {
                let why = self.watch_refusal(what);
                self.note(Level::Warn, why);
                return;
            }
        }
        match a {
            Action::Start => self.start(),
            Action::PauseResume => match self.run.state {
                RunState::Running => self.send(Command::Pause),
                RunState::Paused => self.send(Command::Resume),
                RunState::Starting => self.note(Level::Warn, "the run is still starting"),
                _ => self.note(Level::Warn, "no run in progress (s starts one)"),
            },
            Action::Stop if self.run.state.is_active() => self.confirm(ConfirmKind::Stop),
            Action::Stop => self.note(Level::Warn, "no run in progress"),
            Action::EvalNow => match self.run.state {
                RunState::Running | RunState::Paused => {
                    self.send(Command::EvalNow);
                    self.note(Level::Info, "evaluation requested: it runs between steps");
                }
                RunState::Starting => self.note(Level::Warn, "the run is still starting"),
                _ => self.note(
                    Level::Warn,
                    "evaluation needs a run in progress (s starts one)",
                ),
            },
            Action::Pin => self.toggle_pin(),
            Action::Presets => self.open_picker(),
            Action::Save => {
                let is_shipped = crate::config::preset::SHIPPED
                    .iter()
                    .any(|(n, _)| *n == self.run.preset.name);
                let start = if is_shipped || self.run.preset.name.is_empty() {
                    String::new()
                } else {
                    self.run.preset.name.clone()
                };
                self.ui.popup = Some(Popup::SaveAs {
                    input: TextInput::new(&start),
                    error: None,
                });
            }
            Action::CycleTheme => self.cycle_theme(),
            Action::Help => self.ui.popup = Some(Popup::Help { scroll: 0 }),
            Action::Messages => self.ui.popup = Some(Popup::Messages { scroll: 0 }),
            Action::Runs => self.open_run_list(),
            Action::Compare => self.toggle_compare(),
            Action::Export => self.export_focused(),
            // The run of a watching window belongs to another process: leaving is harmless.
            Action::Quit if self.run.state.is_active() && !self.watching => {
                self.confirm(ConfirmKind::Quit)
            }
            Action::Quit => self.request(Request::Quit),
            _ => {}
        }
    }

    /// Carries out what a pane asked for.
    fn pane_request(&mut self, r: PaneRequest) {
        match r {
            PaneRequest::SetLive { key, literal } => {
                self.run.set_pending(key, &literal);
                self.send(Command::Set {
                    key: key.to_string(),
                    value: literal,
                });
            }
            PaneRequest::Settings(p) => self.run.edit_settings(*p),
            PaneRequest::ReadOnly(what) => {
                let why = self.watch_refusal(what);
                self.note(Level::Warn, why);
            }
        }
    }

    fn start(&mut self) {
        if self.run.state.is_active() {
            self.note(Level::Warn, "a run is already in progress");
            return;
        }
        self.run.state = RunState::Starting;
        self.request(Request::StartRun);
        // `bapw` alone reopens what was last trained.
        if self.settings.last_preset.as_deref() != Some(self.run.label.as_str()) {
            self.settings.last_preset = Some(self.run.label.clone());
            self.save_settings();
        }
    }

    fn confirm(&mut self, kind: ConfirmKind) {
        self.ui.popup = Some(Popup::Confirm(Confirm::new(kind)));
    }

    fn toggle_pin(&mut self) {
        if self.run.evals.pinned.take().is_some() {
            self.note(
                Level::Info,
                "unpinned: deltas against the previous evaluation",
            );
        } else if let Some(latest) = self.run.evals.latest.clone() {
            let step = latest.step;
            self.run.evals.pinned = Some(latest);
            self.note(Level::Info, format!("pinned the evaluation of step {step}"));
        } else {
            self.note(Level::Warn, "no evaluation to pin yet (e evaluates now)");
        }
    }

    fn cycle_theme(&mut self) {
        if self.monochrome {
            self.note(Level::Warn, "NO_COLOR is set: colours are off");
            return;
        }
        if self.themes.is_empty() {
            return;
        }
        self.theme_idx = (self.theme_idx + 1) % self.themes.len();
        let name = self.themes[self.theme_idx].name.clone();
        self.settings.theme = Some(name.clone());
        self.save_settings();
        self.note(Level::Info, format!("theme {name}"));
    }

    pub(super) fn save_settings(&mut self) {
        if let Err(e) = self.store.save_settings(&self.settings) {
            self.note(Level::Warn, format!("settings not saved: {e:#}"));
        }
    }

    // ---- popups ----

    fn open_picker(&mut self) {
        if self.run.state.is_active() {
            self.note(Level::Warn, "stop the run before opening another preset");
            return;
        }
        let entries = self.store.list_presets();
        let selected = entries
            .iter()
            .position(|e| e.name == self.run.label)
            .unwrap_or(0);
        self.ui.popup = Some(Popup::Picker { entries, selected });
    }

    fn handle_popup(&mut self, a: Action) {
        let Some(popup) = self.ui.popup.as_mut() else {
            return;
        };
        match popup {
            Popup::Help { scroll } | Popup::Problems { scroll, .. } => match a {
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::Down => *scroll = scroll.saturating_add(1),
                Action::PageUp => *scroll = scroll.saturating_sub(10),
                Action::PageDown => *scroll = scroll.saturating_add(10),
                Action::Enter | Action::Cancel | Action::Help | Action::No => self.ui.popup = None,
                _ => {}
            },
            Popup::Messages { scroll } => {
                // Counted from the newest line, so new messages do not move the view.
                let max = self.run.log.len().saturating_sub(1);
                match a {
                    Action::Up => *scroll = (*scroll + 1).min(max),
                    Action::Down => *scroll = scroll.saturating_sub(1),
                    Action::PageUp => *scroll = (*scroll + 10).min(max),
                    Action::PageDown => *scroll = scroll.saturating_sub(10),
                    Action::Home => *scroll = max,
                    Action::End => *scroll = 0,
                    Action::Enter | Action::Cancel | Action::Messages | Action::No => {
                        self.ui.popup = None
                    }
                    _ => {}
                }
            }
            Popup::Confirm(c) => {
                let choices = c.choices();
                let n = choices.len();
                let answer = match a {
                    Action::Up | Action::Left => {
                        c.selected = (c.selected + n - 1) % n;
                        None
                    }
                    Action::Down | Action::Right => {
                        c.selected = (c.selected + 1) % n;
                        None
                    }
                    Action::Yes => Some(Answer::Yes),
                    Action::Input(k) => choices.iter().find(|ch| ch.key == k).map(|ch| ch.answer),
                    Action::Enter => Some(c.selected_answer()),
                    Action::No | Action::Cancel => Some(Answer::Cancel),
                    _ => None,
                };
                if let Some(answer) = answer {
                    let kind = c.kind.clone();
                    self.answer(kind, answer);
                }
            }
            Popup::Runs(_) => self.handle_run_list(a),
            Popup::Picker { entries, selected } => {
                let n = entries.len();
                match a {
                    Action::Up => *selected = selected.saturating_sub(1),
                    Action::Down => *selected = (*selected + 1).min(n.saturating_sub(1)),
                    Action::PageUp | Action::Home => *selected = 0,
                    Action::PageDown | Action::End => *selected = n.saturating_sub(1),
                    Action::Enter => {
                        if let Some(e) = entries.get(*selected).cloned() {
                            self.load_entry(&e);
                        }
                    }
                    Action::Cancel | Action::No => self.ui.popup = None,
                    _ => {}
                }
            }
            Popup::SaveAs { input, error } => {
                match a {
                    Action::Input(c) => input.insert(c),
                    Action::Backspace => input.backspace(),
                    Action::Delete => input.delete(),
                    Action::Left => input.left(),
                    Action::Right => input.right(),
                    Action::Home => input.home(),
                    Action::End => input.end(),
                    Action::ClearInput => input.clear(),
                    Action::Cancel => {
                        self.ui.popup = None;
                        return;
                    }
                    Action::Enter => {
                        let name = input.text().trim().to_string();
                        match self.store.user_preset_path(&name) {
                            Err(e) => *error = Some(format!("{e:#}")),
                            Ok(path) if path.exists() => {
                                self.confirm(ConfirmKind::Overwrite { name })
                            }
                            Ok(_) => self.save_as(&name),
                        }
                        return;
                    }
                    _ => return,
                }
                // The reason disappears as soon as the name changes.
                *error = None;
            }
        }
    }

    fn answer(&mut self, kind: ConfirmKind, answer: Answer) {
        self.ui.popup = None;
        match answer {
            Answer::Cancel => return,
            Answer::Background if kind == ConfirmKind::Quit && self.run.state.is_active() => {
                return self.keep_in_background();
            }
            Answer::Background | Answer::Yes => {}
        }
        match kind {
            ConfirmKind::Stop => {
                self.stop_requested = true;
                self.send(Command::Stop);
            }
            ConfirmKind::Quit if self.run.state.is_active() => {
                self.stop_requested = true;
                self.quit_after_stop = true;
                self.send(Command::Stop);
                self.note(
                    Level::Info,
                    "stopping the run (checkpoint and summary), then quitting",
                );
            }
            ConfirmKind::Quit => self.request(Request::Quit),
            ConfirmKind::Overwrite { name } => self.save_as(&name),
            ConfirmKind::Resume { name, .. } => self.request(Request::Resume(name)),
        }
    }

    fn save_as(&mut self, name: &str) {
        match self.store.save_preset(name, &self.run.preset) {
            Ok(path) => {
                self.ui.popup = None;
                self.run.preset.name = name.to_string();
                self.run.label = name.to_string();
                self.run.preset_edited = false;
                self.settings.last_preset = Some(name.to_string());
                self.save_settings();
                self.note(
                    Level::Info,
                    format!("saved preset {name} to {}", path.display()),
                );
            }
            Err(e) => {
                self.ui.popup = Some(Popup::SaveAs {
                    input: TextInput::new(name),
                    error: Some(format!("{e:#}")),
                });
            }
        }
    }

    fn load_entry(&mut self, e: &super::store::PresetEntry) {
        match self.store.load_preset(e) {
            Ok(p) => {
                self.ui.popup = None;
                self.run.open_settings(p, &e.name);
                self.ui.reset_panes();
                // User presets shadow shipped ones by name, so the name finds it again.
                self.settings.last_preset = Some(e.name.clone());
                self.save_settings();
                self.note(Level::Info, format!("opened preset {}", e.name));
            }
            Err(err) => {
                let title = format!("{} does not load; kept {}", e.name, self.run.label);
                let n = err.problems.len();
                self.note(Level::Error, format!("{title} ({n} problem(s))"));
                self.ui.popup = Some(Popup::Problems {
                    title,
                    lines: err.render().lines().map(str::to_string).collect(),
                    scroll: 0,
                });
            }
        }
    }
}

/// What `a` would do that a window which only watches cannot, or None when it can.
fn watch_refusal(a: Action) -> Option<&'static str> {
    Some(match a {
        Action::Start => "starting a run",
        Action::PauseResume => "pause and resume",
        Action::Stop => "stopping",
        Action::EvalNow => "evaluating",
        Action::Presets => "opening a preset",
        _ => return None,
    })
}
