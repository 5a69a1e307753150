//! One module per command: each resolves its arguments, calls the library crates, renders.

pub mod audit;
pub mod baseline;
pub mod capture;
pub mod case;
pub mod checkpoint;
pub mod completion;
pub mod creds;
pub mod detect;
pub mod doctor;
pub mod drill;
pub mod image;
pub mod isolate;
pub mod node;
pub mod prepare;
pub mod prepare_check;
pub mod prepare_responder;
pub mod replace;
pub mod report;
pub mod respond;
pub mod responder;
mod scan;
pub mod snapshot;
pub mod undo;
pub mod version;
