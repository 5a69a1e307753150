//! One module per command: each resolves its arguments, calls the library crates, renders.

pub mod audit;
pub mod baseline;
pub mod completion;
pub mod detect;
pub mod doctor;
mod scan;
