//! The parts of the screen that are not panes: the header (what runs where, the progress
//! bar) and the message line.
pub mod footer;
pub mod header;
