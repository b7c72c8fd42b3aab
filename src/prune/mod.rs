//! Gradual magnitude pruning: the sparsity schedule (when and how much) and the masks (which).
mod mask;
mod schedule;

pub use mask::{kept_count, magnitude_masks, LayerSparsity, Pruner, Scope};
pub use schedule::{ScheduleKind, ScheduleSpec};
