//! Property tests over the parsers that read user or disk input: presets (TOML), themes, IDX
//! files and the event log. Whatever the bytes, they return an error or a value, never panic;
//! and structured inputs round-trip. 8 properties of 1,000 cases each (proptest's default is
//! 256), 8,000 cases a run; `PROPTEST_CASES` overrides.
use bapw::config::preset::Preset;
use bapw::config::theme::{parse_theme, resolve};
use bapw::data::idx::{encode_idx, parse_idx};
use bapw::events::{parse_events, EndState, Event, Finished, Step, StepTiming};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
        ..ProptestConfig::default()
    }
}

/// Lines that look like presets: known sections and keys with arbitrary values.
fn preset_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("final_sparsity"),
        Just("epochs"),
        Just("lr"),
        Just("dataset"),
        Just("arch"),
        Just("rho"),
        Just("eps"),
        Just("frequency"),
        Just("begin_step"),
        Just("end_epoch"),
        Just("bogus"),
        Just("schema_version"),
    ];
    let section = prop_oneof![
        Just("train"),
        Just("prune"),
        Just("adv"),
        Just("data"),
        Just("model"),
        Just("eval"),
        Just("x")
    ];
    let value = prop_oneof![
        any::<f64>().prop_map(|v| format!("{v:?}")),
        any::<i64>().prop_map(|v| v.to_string()),
        "[a-z]{0,6}".prop_map(|s| format!("\"{s}\"")),
        Just("[1, 2]".to_string()),
        Just("true".to_string()),
        "[^\n]{0,8}",
    ];
    prop::collection::vec((section, key, value), 0..12).prop_map(|items| {
        let mut s = String::from("schema_version = 1\n");
        for (sec, k, v) in items {
            s.push_str(&format!("[{sec}]\n{k} = {v}\n"));
        }
        s
    })
}

/// Text that looks like a theme: known and unknown keys and slots with arbitrary values.
fn theme_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("inherits"),
        Just("description"),
        Just("name"),
        Just("palette"),
        Just("inherit"),
    ];
    let slot = prop_oneof![
        Just("fg"),
        Just("bg"),
        Just("accent"),
        Just("warn"),
        Just("heat_high"),
        Just("accnet"),
    ];
    let value = prop_oneof![
        "#[0-9a-fz]{0,7}".prop_map(|s| format!("\"{s}\"")),
        any::<i64>().prop_map(|v| v.to_string()),
        prop_oneof![Just("dark"), Just("light"), Just("red"), Just("mine")]
            .prop_map(|s| format!("\"{s}\"")),
        "[^\n]{0,8}",
    ];
    (
        prop::collection::vec((key, value.clone()), 0..4),
        prop::collection::vec((slot, value), 0..6),
    )
        .prop_map(|(top, palette)| {
            let mut s = String::new();
            for (k, v) in top {
                s.push_str(&format!("{k} = {v}\n"));
            }
            s.push_str("[palette]\n");
            for (k, v) in palette {
                s.push_str(&format!("{k} = {v}\n"));
            }
            s
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn theme_parser_never_panics_and_names_the_file(
        garbage in "\\PC{0,200}",
        theme in theme_like(),
    ) {
        let mut files = Vec::new();
        for (i, text) in [garbage, theme].iter().enumerate() {
            let name = format!("t{i}");
            match parse_theme(&name, &format!("{name}.toml"), text) {
                Ok(f) => files.push(f),
                Err(e) => {
                    let file = format!("{name}.toml");
                    prop_assert!(e.to_string().starts_with(&file), "{}", e);
                }
            }
        }
        // Whatever parsed also resolves (inheriting each other, cycles included) or is named.
        let (_, errors) = resolve(&files);
        for e in errors {
            prop_assert!(e.file.starts_with('t'));
        }
    }

    #[test]
    fn preset_parser_never_panics_on_garbage(text in "\\PC{0,200}") {
        let _ = Preset::from_toml_str("fuzz.toml", &text, &[]);
    }

    #[test]
    fn preset_parser_never_panics_on_preset_like_text(text in preset_like()) {
        match Preset::from_toml_str("fuzz.toml", &text, &[]) {
            Ok(p) => prop_assert!(p.validate().is_empty()),
            Err(e) => {
                prop_assert!(!e.problems.is_empty());
                prop_assert!(e.to_string().starts_with("fuzz.toml"));
            }
        }
    }

    #[test]
    fn set_overrides_never_panic(assign in "[a-z_.]{0,20}=?[^\n]{0,10}") {
        let _ = Preset::load_with("smoke", &[assign]);
    }

    #[test]
    fn idx_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), ndim in 1usize..4) {
        let _ = parse_idx(&bytes, ndim);
    }

    #[test]
    fn idx_roundtrips(dims in prop::collection::vec(1usize..5, 1..4), seed in any::<u8>()) {
        let n: usize = dims.iter().product();
        let data: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let parsed = parse_idx(&encode_idx(&dims, &data), dims.len()).unwrap();
        prop_assert_eq!(parsed.dims, dims);
        prop_assert_eq!(parsed.data, data);
    }

    #[test]
    fn event_log_never_panics(text in "\\PC{0,300}") {
        let _ = parse_events(&text);
    }

    #[test]
    fn event_log_roundtrips_and_tolerates_a_cut_last_line(
        losses in prop::collection::vec(-1e6f64..1e6, 1..20),
        cut in 1usize..40,
    ) {
        let events: Vec<Event> = losses
            .iter()
            .enumerate()
            .map(|(i, l)| Event::Step(Step {
                step: i,
                epoch: 0,
                loss: *l,
                clean_loss: *l,
                adv_loss: None,
                train_acc: 0.5,
                target_sparsity: 0.1,
                sparsity: 0.1,
                samples_per_s: 1.0,
                timing: StepTiming::default(),
            }))
            .chain(std::iter::once(Event::Finished(Finished { step: 1, state: EndState::Finished, sparsity: 0.5, test_acc: 0.9, seconds: 1.0 })))
            .collect();
        let mut text = String::new();
        for e in &events {
            text.push_str(&serde_json::to_string(e).unwrap());
            text.push('\n');
        }
        prop_assert_eq!(&parse_events(&text).unwrap(), &events);
        // Killed mid-write: the last line is cut short; everything before it is kept.
        let last_len = serde_json::to_string(events.last().unwrap()).unwrap().len() + 1;
        let cut = cut.min(last_len - 1);
        let truncated = &text[..text.len() - cut];
        let parsed = parse_events(truncated).unwrap();
        // Cutting only the newline leaves a whole JSON object, which is kept.
        let kept = if cut == 1 { events.len() } else { events.len() - 1 };
        prop_assert_eq!(&parsed[..], &events[..kept]);
    }
}
