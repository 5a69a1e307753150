//! One module per command: each resolves its arguments, calls the library crates, renders.

pub mod case;
pub mod completion;
pub mod doctor;
