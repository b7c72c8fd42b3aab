//! Experiments across many runs: a sweep file expands into a grid of ordinary runs
//! (`spec`), `runner` trains them (resumably, `--jobs` at a time), and `report` aggregates the
//! finished ones into the accuracy-efficiency-robustness comparison (tables, CSV, `plots`).
pub mod plots;
pub mod report;
pub mod runner;
pub mod spec;

pub use report::{aggregate, Report, ReportArgs};
pub use runner::{Plan, RunStatus, SweepArgs};
pub use spec::{PlannedRun, SweepFile};
