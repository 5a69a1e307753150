//! One module per command: each resolves its arguments, calls the library crates, renders.

pub mod completion;
pub mod doctor;
