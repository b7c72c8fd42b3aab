//! The parts of the screen that are not panes: the header (what runs where, the progress
//! bar), the alert banner, the GPU strip and the message line.
pub mod alert_banner;
pub mod footer;
pub mod gpu_strip;
pub mod header;
