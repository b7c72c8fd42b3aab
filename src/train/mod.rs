//! Training: the engine thread, its events, the optimisers, the loss and the run folder.
pub mod engine;
pub mod events;
pub mod follow;
pub mod loss;
pub mod oom;
pub mod optim;
pub mod run;
pub mod step;

pub use engine::{spawn, Command, DeviceChoice, EngineHandle, RunSpec};
pub use events::Event;
