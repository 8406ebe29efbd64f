//! Unit tests of the iterative resolver: table tests of the pure parts
//! (classification, bailiwick, wire checks, hints, delegation cache, server
//! choice) and the sans-IO core driven by scripted replies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod classify;
mod core;
mod harness;
mod hints;
mod referrals;
mod state;
mod util;
mod wire;
