//! Experiments across many runs: a sweep file expands into a grid of ordinary runs
//! (`spec`), `folder` is the sweep folder's format (plan, run folders, run states), `runner`
//! trains the grid (resumably, `--jobs` at a time), `report` aggregates the finished runs into
//! the accuracy-efficiency-robustness comparison and `publish` writes it with its `plots`.
//!
//! Imports go one way: spec <- folder <- report <- plots <- publish <- runner.
pub mod folder;
pub mod plots;
pub mod publish;
pub mod report;
pub mod runner;
pub mod spec;

pub use folder::{Plan, RunStatus};
pub use publish::ReportArgs;
pub use report::{aggregate, Report};
pub use runner::SweepArgs;
pub use spec::{PlannedRun, SweepFile};
