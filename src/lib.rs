//! bapw: a workbench for blind adversarial pruning. The engine (`data`, `model`, `prune`,
//! `attack`, `train`, `eval`) knows nothing of terminals; `tui` and `headless` are two faces on
//! its one event stream; `config` holds presets, themes and paths.
pub mod attack;
pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod eval;
pub mod events;
pub mod export;
pub mod headless;
pub mod model;
pub mod monitor;
pub mod prune;
pub mod run;
pub mod sweep;
pub mod train;
pub mod tui;
