//! The commands of `bapw`, one module each: what `main.rs` dispatches to once clap has parsed
//! the arguments. Commands with a home of their own elsewhere (`export`, `eval`, `sweep`,
//! `report`, `bench`) keep their arguments and entry point there.
pub mod data;
pub mod presets;
pub mod runs;
pub mod train;
pub mod watch;
