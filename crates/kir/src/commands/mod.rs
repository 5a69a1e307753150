//! One module per command: each resolves its arguments, calls the library crates, renders.

pub mod audit;
pub mod baseline;
pub mod capture;
pub mod case;
pub mod completion;
pub mod creds;
pub mod detect;
pub mod doctor;
pub mod image;
pub mod isolate;
pub mod prepare;
pub mod replace;
pub mod respond;
pub mod responder;
mod scan;
pub mod snapshot;
pub mod undo;
pub mod version;
