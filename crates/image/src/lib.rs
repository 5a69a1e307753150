//! The "malicious image" incident, without I/O: container image references normalised as the
//! runtime reads them ([`ImageRef`], [`parse_image_id`]), what a responder asks to find or block
//! ([`Pattern`], [`Pattern::matches`]), the admission policies that keep a blocked image out
//! ([`admission`]), and trivy's reports read into a summary ([`trivy`]).
//!
//! `kir image find`, `kir image block` and `kir image scan` read the cluster and apply the
//! objects themselves; this crate only decides.
//!
//! Every input is hostile (a pod spec written by an attacker, a report from a scanner run on a
//! compromised host): nothing here panics, and errors quote at most a few dozen characters.

pub mod admission;
mod error;
mod pattern;
mod reference;
pub mod trivy;

pub use error::{ImageRefError, QUOTED_MAX};
pub use pattern::{Match, Pattern};
pub use reference::{
    DOCKER_HUB, DOCKER_HUB_ALIASES, Digest, ImageRef, NAME_MAX, RunningImage, TAG_MAX, is_docker_hub,
    parse_image_id,
};
