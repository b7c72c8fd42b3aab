//! Colour themes for the TUI. A theme is a TOML file with a `[palette]` of named colour slots;
//! `inherits = "dark"` starts from another theme so a user theme only names what differs.
//! Shipped themes are compiled in (like the shipped presets); user themes live in
//! `<config>/themes/*.toml` and may shadow a shipped one of the same name.
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ratatui::style::Color;

use crate::config::preset::suggest;
use crate::config::spans::line_of_key;

pub const SHIPPED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

pub const DEFAULT_THEME: &str = "dark";

/// How deep `inherits` chains may go before we call it a cycle.
const MAX_INHERIT_DEPTH: usize = 8;

macro_rules! slots {
    ($($variant:ident => $name:literal: $doc:literal,)*) => {
        /// One named colour of a palette.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Slot { $(#[doc = $doc] $variant,)* }

        impl Slot {
            pub const ALL: &'static [Slot] = &[$(Slot::$variant,)*];

            /// The key written in a theme file.
            pub fn name(self) -> &'static str {
                match self { $(Slot::$variant => $name,)* }
            }

            pub fn describe(self) -> &'static str {
                match self { $(Slot::$variant => $doc,)* }
            }
        }
    };
}

slots! {
    Fg => "fg": "ordinary text",
    Bg => "bg": "screen background (`default` keeps the terminal's)",
    Dim => "dim": "secondary text, axes, hints",
    Border => "border": "pane borders",
    BorderFocus => "border_focus": "border of the focused pane",
    Title => "title": "pane titles",
    Accent => "accent": "keys in hints, the header's run name",
    SelectionFg => "selection_fg": "text of the selected row",
    SelectionBg => "selection_bg": "background of the selected row",
    Ok => "ok": "running state, good values",
    Warn => "warn": "paused state, warnings",
    Error => "error": "failures and refused edits",
    Gauge => "gauge": "progress gauge",
    CleanLoss => "clean_loss": "clean train loss series",
    AdvLoss => "adv_loss": "adversarial train loss series",
    TestAcc => "test_acc": "clean test accuracy series",
    RobustAcc => "robust_acc": "robust accuracy series",
    Target => "target": "target sparsity curve",
    Measured => "measured": "measured sparsity",
    Marker => "marker": "current-step marker",
    Preview => "preview": "schedule preview while editing",
    Cutoff => "cutoff": "cut-off delta marker",
    Distances => "distances": "DeepFool distance histogram",
    Budgets => "budgets": "budget histogram",
    HeatLow => "heat_low": "low accuracy cells",
    HeatMid => "heat_mid": "middling accuracy cells",
    HeatHigh => "heat_high": "high accuracy cells",
}

impl Slot {
    pub fn from_name(name: &str) -> Option<Slot> {
        Slot::ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// A resolved theme: every slot has a colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub description: String,
    colors: Vec<Color>,
    /// `NO_COLOR`: every colour is the terminal default and emphasis uses modifiers only.
    pub monochrome: bool,
}

impl Theme {
    pub fn color(&self, slot: Slot) -> Color {
        self.colors[slot as usize]
    }

    /// The theme `NO_COLOR` asks for (<https://no-color.org>).
    pub fn monochrome() -> Theme {
        Theme {
            name: "monochrome".into(),
            description: "NO_COLOR is set: terminal colours only".into(),
            colors: vec![Color::Reset; Slot::ALL.len()],
            monochrome: true,
        }
    }

    /// The default shipped theme. Shipped themes are checked by the tests, so this cannot fail
    /// in a released binary; the fallback keeps a broken build readable anyway.
    pub fn default_theme() -> Theme {
        load_all(None)
            .0
            .into_iter()
            .find(|t| t.name == DEFAULT_THEME)
            .unwrap_or_else(Theme::monochrome)
    }
}

/// A problem in one theme file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq)]
pub struct ThemeError {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ThemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ThemeError {}

/// One theme file as written: only the slots it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct ThemeFile {
    pub name: String,
    pub file: String,
    pub description: String,
    pub inherits: Option<String>,
    pub palette: BTreeMap<Slot, Color>,
}

/// Parses a colour: `#rrggbb`, an ANSI name (`red`, `bright_red`, ...), `default`, or an
/// xterm palette index 0-255.
pub fn parse_color(s: &str) -> Result<Color, String> {
    let t = s.trim().to_ascii_lowercase().replace('-', "_");
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let v = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
        }
        return Err(format!(
            "invalid colour {s:?}: hex colours are written #rrggbb"
        ));
    }
    if let Ok(i) = t.parse::<u16>() {
        return u8::try_from(i)
            .map(Color::Indexed)
            .map_err(|_| format!("invalid colour {s:?}: palette indices are 0-255"));
    }
    let c = match t.as_str() {
        "default" | "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        // ANSI 7 is "white" in most palettes; ratatui calls it Gray.
        "white" | "gray" | "grey" => Color::Gray,
        "bright_black" | "dark_gray" | "dark_grey" => Color::DarkGray,
        "bright_red" => Color::LightRed,
        "bright_green" => Color::LightGreen,
        "bright_yellow" => Color::LightYellow,
        "bright_blue" => Color::LightBlue,
        "bright_magenta" => Color::LightMagenta,
        "bright_cyan" => Color::LightCyan,
        "bright_white" => Color::White,
        _ => {
            return Err(format!(
                "invalid colour {s:?}: use #rrggbb, an ANSI name (red, bright_red, ...), \
                 default, or 0-255"
            ))
        }
    };
    Ok(c)
}

/// Parses one theme file; `name` is the theme's name (the file stem).
pub fn parse_theme(name: &str, file: &str, text: &str) -> Result<ThemeFile, ThemeError> {
    let err = |line: Option<usize>, key: &str, message: String| ThemeError {
        file: file.into(),
        line,
        key: key.into(),
        message,
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        err(line, "", e.message().to_string())
    })?;
    let mut out = ThemeFile {
        name: name.into(),
        file: file.into(),
        description: String::new(),
        inherits: None,
        palette: BTreeMap::new(),
    };
    for (key, value) in &table {
        let line = line_of_key(text, key);
        match (key.as_str(), value) {
            // `name` is informative only: the file name is what `--theme` and `t` use.
            ("name", toml::Value::String(_)) => {}
            ("description", toml::Value::String(s)) => out.description = s.clone(),
            ("inherits", toml::Value::String(s)) => out.inherits = Some(s.clone()),
            ("palette", toml::Value::Table(p)) => {
                for (slot_name, v) in p {
                    let line = line_of_key(text, &format!("palette.{slot_name}"));
                    let full = format!("palette.{slot_name}");
                    let Some(slot) = Slot::from_name(slot_name) else {
                        let names: Vec<&str> = Slot::ALL.iter().map(|s| s.name()).collect();
                        let hint = suggest(slot_name, &names)
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        return Err(err(line, &full, format!("unknown colour slot{hint}")));
                    };
                    let color = match v {
                        toml::Value::String(s) => parse_color(s),
                        toml::Value::Integer(i) => parse_color(&i.to_string()),
                        other => Err(format!(
                            "expected a colour string, found {}",
                            other.type_str()
                        )),
                    }
                    .map_err(|m| err(line, &full, m))?;
                    out.palette.insert(slot, color);
                }
            }
            ("name" | "description" | "inherits", other) => {
                return Err(err(
                    line,
                    key,
                    format!("expected a string, found {}", other.type_str()),
                ))
            }
            ("palette", other) => {
                return Err(err(
                    line,
                    key,
                    format!("expected a [palette] table, found {}", other.type_str()),
                ))
            }
            (other, _) => {
                let hint = suggest(other, &["name", "description", "inherits", "palette"])
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(err(line, key, format!("unknown key{hint}")));
            }
        }
    }
    Ok(out)
}

/// Resolves `inherits` chains into complete themes. Files later in `files` shadow earlier ones
/// of the same name; a file that inherits its own name gets the one it shadows.
pub fn resolve(files: &[ThemeFile]) -> (Vec<Theme>, Vec<ThemeError>) {
    let mut themes = Vec::new();
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for (i, f) in files.iter().enumerate().rev() {
        if seen.contains(&f.name) {
            continue;
        }
        seen.push(f.name.clone());
        match resolve_one(files, i, 0) {
            Ok(colors) => themes.push(Theme {
                name: f.name.clone(),
                description: f.description.clone(),
                colors,
                monochrome: false,
            }),
            Err(e) => errors.push(e),
        }
    }
    // Shipped order first, then user themes in file order: a stable cycle for `t`.
    themes.reverse();
    let order = |name: &str| {
        files
            .iter()
            .position(|f| f.name == name)
            .unwrap_or(usize::MAX)
    };
    themes.sort_by_key(|t| order(&t.name));
    (themes, errors)
}

fn resolve_one(files: &[ThemeFile], idx: usize, depth: usize) -> Result<Vec<Color>, ThemeError> {
    let f = &files[idx];
    let fail = |key: &str, message: String| ThemeError {
        file: f.file.clone(),
        line: None,
        key: key.into(),
        message,
    };
    if depth > MAX_INHERIT_DEPTH {
        return Err(fail("inherits", "inheritance cycle".into()));
    }
    let mut colors: Vec<Option<Color>> = match &f.inherits {
        None => vec![None; Slot::ALL.len()],
        Some(parent) => {
            // The parent is the last file of that name before this one when the name is our
            // own (a user `dark` extending the shipped `dark`), else the last file of that name.
            let candidates = if *parent == f.name {
                &files[..idx]
            } else {
                files
            };
            let Some(p) = candidates.iter().rposition(|g| g.name == *parent) else {
                let names: Vec<&str> = files.iter().map(|g| g.name.as_str()).collect();
                let hint = suggest(parent, &names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(fail("inherits", format!("no theme named {parent:?}{hint}")));
            };
            resolve_one(files, p, depth + 1)
                .map_err(|e| {
                    if e.file == f.file {
                        e
                    } else {
                        fail("inherits", format!("{parent:?} is invalid: {e}"))
                    }
                })?
                .into_iter()
                .map(Some)
                .collect()
        }
    };
    for (slot, c) in &f.palette {
        colors[*slot as usize] = Some(*c);
    }
    let missing: Vec<&str> = Slot::ALL
        .iter()
        .filter(|s| colors[**s as usize].is_none())
        .map(|s| s.name())
        .collect();
    if !missing.is_empty() {
        return Err(fail(
            "palette",
            format!(
                "a theme without `inherits` must set every colour; missing: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(colors
        .into_iter()
        .map(|c| c.unwrap_or(Color::Reset))
        .collect())
}

/// The shipped themes plus every `*.toml` in `user_dir` (when given), resolved. Invalid user
/// themes come back as errors and are left out; they never hide the shipped ones.
pub fn load_all(user_dir: Option<&Path>) -> (Vec<Theme>, Vec<ThemeError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in SHIPPED {
        match parse_theme(name, &format!("themes/{name}.toml"), text) {
            Ok(f) => files.push(f),
            Err(e) => errors.push(e),
        }
    }
    if let Some(dir) = user_dir {
        for p in crate::config::paths::toml_files(dir) {
            let file = p.display().to_string();
            let Some(name) = p.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            match std::fs::read_to_string(&p) {
                Ok(text) => match parse_theme(&name, &file, &text) {
                    Ok(f) => files.push(f),
                    Err(e) => errors.push(e),
                },
                Err(e) => errors.push(ThemeError {
                    file,
                    line: None,
                    key: String::new(),
                    message: e.to_string(),
                }),
            }
        }
    }
    let (themes, mut resolve_errors) = resolve(&files);
    errors.append(&mut resolve_errors);
    (themes, errors)
}

/// Checks the theme chosen with `--theme` before anything starts, so a mistake is bad input
/// (exit code 2) like a preset's: an unknown name (with the closest one), or the user's file
/// of that name that does not load (with its file, line and key). Without `--theme` broken
/// user themes are only noted in the workbench, which falls back to a shipped one.
pub fn check_choice(name: &str, user_dir: Option<&Path>) -> Result<(), ThemeError> {
    let (themes, errors) = load_all(user_dir);
    let named = |e: &ThemeError| Path::new(&e.file).file_stem() == Some(std::ffi::OsStr::new(name));
    if let Some(e) = errors.into_iter().find(named) {
        return Err(e);
    }
    if themes.iter().any(|t| t.name == name) {
        return Ok(());
    }
    let names: Vec<&str> = themes.iter().map(|t| t.name.as_str()).collect();
    let hint = suggest(name, &names)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(ThemeError {
        file: "--theme".into(),
        line: None,
        key: String::new(),
        message: format!(
            "no theme named {name:?}{hint}; themes: {}",
            names.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_theme_must_exist_and_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.toml"), "inherits = \"dark\"\n").unwrap();
        std::fs::write(dir.path().join("bad.toml"), "[palette]\nfg = 3.5\n").unwrap();
        assert!(check_choice("light", Some(dir.path())).is_ok());
        assert!(check_choice("mine", Some(dir.path())).is_ok());
        let e = check_choice("bad", Some(dir.path())).unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(2), "palette.fg"));
        assert!(e.file.ends_with("bad.toml"), "{e}");
        let e = check_choice("ligth", Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--theme: no theme named \"ligth\" (did you mean `light`?)"),
            "{e}"
        );
        // Another broken file does not stop a good choice.
        assert!(check_choice("dark", None).is_ok());
    }

    #[test]
    fn shipped_themes_resolve_completely() {
        let (themes, errors) = load_all(None);
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<&str> = themes.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["dark", "light", "high-contrast", "ansi16"]);
    }

    #[test]
    fn ansi16_uses_only_the_sixteen_colours() {
        let (themes, _) = load_all(None);
        let t = themes.iter().find(|t| t.name == "ansi16").unwrap();
        for s in Slot::ALL {
            let c = t.color(*s);
            assert!(
                !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                "{} is {c:?}",
                s.name()
            );
        }
    }

    #[test]
    fn colours_parse() {
        assert_eq!(parse_color("#ff8000"), Ok(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("bright-red"), Ok(Color::LightRed));
        assert_eq!(parse_color("white"), Ok(Color::Gray));
        assert_eq!(parse_color("default"), Ok(Color::Reset));
        assert_eq!(parse_color("208"), Ok(Color::Indexed(208)));
        assert!(parse_color("#12345z").is_err());
        assert!(parse_color("256").is_err());
        assert!(parse_color("purple").is_err());
    }

    #[test]
    fn invalid_colour_names_file_line_and_key() {
        let text = "inherits = \"dark\"\n\n[palette]\naccent = \"#00ff00\"\nwarn = \"#12345z\"\n";
        let e = parse_theme("mine", "/cfg/themes/mine.toml", text).unwrap_err();
        assert_eq!(e.file, "/cfg/themes/mine.toml");
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key, "palette.warn");
        let shown = e.to_string();
        assert!(
            shown.starts_with("/cfg/themes/mine.toml:5: palette.warn: invalid colour"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_slot_and_key_are_named_with_a_suggestion() {
        let e = parse_theme("m", "m.toml", "[palette]\naccnet = \"red\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(2), "palette.accnet"));
        assert!(e.message.contains("`accent`"), "{}", e.message);
        let e = parse_theme("m", "m.toml", "inherit = \"dark\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(1), "inherit"));
        assert!(e.message.contains("`inherits`"), "{}", e.message);
        let e = parse_theme("m", "m.toml", "[palette\n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn inheriting_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "inherits = \"dark\"\n[palette]\naccent = \"#010203\"\n",
        )
        .unwrap();
        let (themes, errors) = load_all(Some(dir.path()));
        assert!(errors.is_empty(), "{errors:?}");
        let dark = themes.iter().find(|t| t.name == "dark").unwrap();
        let mine = themes.iter().find(|t| t.name == "mine").unwrap();
        assert_eq!(mine.color(Slot::Accent), Color::Rgb(1, 2, 3));
        for s in Slot::ALL.iter().filter(|s| **s != Slot::Accent) {
            assert_eq!(mine.color(*s), dark.color(*s), "{}", s.name());
        }
        assert_eq!(themes.last().unwrap().name, "mine");
    }

    #[test]
    fn a_user_theme_may_shadow_and_extend_a_shipped_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dark.toml"),
            "inherits = \"dark\"\n[palette]\nfg = \"red\"\n",
        )
        .unwrap();
        let (themes, errors) = load_all(Some(dir.path()));
        assert!(errors.is_empty(), "{errors:?}");
        let dark: Vec<&Theme> = themes.iter().filter(|t| t.name == "dark").collect();
        assert_eq!(dark.len(), 1);
        assert_eq!(dark[0].color(Slot::Fg), Color::Red);
        assert_eq!(themes[0].name, "dark", "keeps its place in the cycle");
    }

    #[test]
    fn broken_user_themes_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("cycle-a.toml"), "inherits = \"cycle-b\"\n").unwrap();
        std::fs::write(p("cycle-b.toml"), "inherits = \"cycle-a\"\n").unwrap();
        std::fs::write(p("orphan.toml"), "inherits = \"drak\"\n").unwrap();
        std::fs::write(p("partial.toml"), "[palette]\nfg = \"red\"\n").unwrap();
        let (themes, errors) = load_all(Some(dir.path()));
        assert_eq!(themes.len(), SHIPPED.len());
        assert_eq!(errors.len(), 4, "{errors:?}");
        let orphan = errors
            .iter()
            .find(|e| e.file.ends_with("orphan.toml"))
            .unwrap();
        assert!(orphan.message.contains("`dark`"), "{orphan}");
        let partial = errors
            .iter()
            .find(|e| e.file.ends_with("partial.toml"))
            .unwrap();
        assert!(partial.message.contains("missing: bg"), "{partial}");
    }
}
