//! # pghd-hub
//!
//! The hub: for now its command-line tool (`metrics`, `synth`); the HTTP server,
//! storage and FHIR export come with later work. Only this crate knows HTTP, SQL and
//! FHIR; it builds on `glucometrics` and `device-adapters`.

pub mod cli;
pub mod ingest;
pub mod progress;
pub mod report;
pub mod store;
