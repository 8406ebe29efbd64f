//! Unit tests of the DNS policy: the sans-IO rules (network walk, decision
//! after the fallback, insertion filter) with no network at all, and the
//! async pipeline and `current` with a fake network and fake resolvers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod current;
mod pipeline;
mod rules;
mod support;
mod walk;
