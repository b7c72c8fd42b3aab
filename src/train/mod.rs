//! Training: the engine thread and its commands, what one step trains, the optimisers and the
//! loss. What it reports is `crate::events`; the run folder it writes is `crate::run`.
pub mod alerts;
pub mod engine;
pub mod handle;
pub mod loss;
pub mod oom;
pub mod optim;
pub mod sink;
pub mod spec;
pub mod step;
pub mod trainer;

pub use crate::events::Event;
pub use handle::{spawn, Command, EngineHandle};
pub use spec::RunSpec;
