//! The workbench's parts: the four panes (each owns its state, its keys and its drawing), the
//! header and the message line, and the chart set-up they share. `pane.rs` says what a pane
//! is; `layout.rs` (one level up) lists them and places them on the screen.
pub mod budget;
pub mod chart;
pub mod footer;
pub mod header;
pub mod loss;
pub mod pane;
pub mod robustness;
pub mod schedule;
