//! # pghd-hub
//!
//! The hub: its command-line tool (`serve`, `demo`, `import`, `metrics`, `synth`), the
//! storage of readings and of who may see them (`store`), the MQTT ingest (`ingest`), and
//! the HTTP API (`api`) with its authentication (`auth`) and access rules (`access`); the
//! FHIR export comes with later work. Only this crate knows HTTP, SQL and FHIR; it builds on
//! `glucometrics`, `device-adapters` and (for the MQTT contract) `firmware-bridge`.

pub mod access;
pub mod agp_report;
pub mod analytics;
pub mod api;
pub mod auth;
pub mod cli;
pub mod daily;
pub mod delivery;
pub mod demo;
pub mod fhir;
pub mod fiscal_code;
pub mod fse_gateway;
pub mod ingest;
pub mod notify;
pub mod pdf;
pub mod progress;
pub mod report;
pub mod serve;
pub mod smart;
pub mod store;
pub mod web;
