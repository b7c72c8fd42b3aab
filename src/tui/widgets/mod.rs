//! The parts of the screen that are not panes: the header (what runs where, the progress
//! bar), the message line, and the chart set-up the panes share.
pub mod chart;
pub mod footer;
pub mod header;
