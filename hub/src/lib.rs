//! # pghd-hub
//!
//! The hub: its command-line tool (`demo`, `import`, `metrics`, `synth`), the storage of
//! readings (`store`), and the MQTT ingest (`ingest`); the HTTP server and FHIR export
//! come with later work. Only this crate knows HTTP, SQL and FHIR; it builds on
//! `glucometrics`, `device-adapters` and (for the MQTT contract) `firmware-bridge`.

pub mod cli;
pub mod demo;
pub mod ingest;
pub mod progress;
pub mod report;
pub mod store;
