//! Experiments across many runs: a sweep file expands into a grid of ordinary runs
//! (`spec`), `folder` is the sweep folder's format (plan, run folders, run states), `runner`
//! trains the grid here (resumably, `--jobs` at a time) and `slurm` hands it to a Slurm
//! cluster as a job array (`backend` holds the choice and the `[slurm]` options), `report`
//! aggregates the finished runs into the accuracy-efficiency-robustness comparison (figures
//! with their uncertainty from `estimate`), `render` turns it into Markdown and CSV and
//! `publish` writes it with its `plots`. `args` and `cli` are the command line.
//!
//! Imports go one way: backend <- spec <- folder <- estimate <- report <- render <- plots <-
//! publish <- runner <- slurm <- cli (args is used by slurm and cli only).
pub mod args;
pub mod backend;
pub mod cli;
pub mod estimate;
pub mod folder;
pub mod plots;
pub mod publish;
pub mod render;
pub mod report;
pub mod runner;
pub mod slurm;
pub mod spec;

pub use args::SweepArgs;
pub use backend::Backend;
pub use folder::{Plan, RunStatus};
pub use publish::ReportArgs;
pub use report::{aggregate, Report};
pub use spec::{PlannedRun, SweepFile};
