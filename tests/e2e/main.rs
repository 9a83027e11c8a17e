//! End-to-end scenarios, one module each. Where to add a test: a new data path through
//! several crates gets its own module here; single-crate behaviour belongs next to the
//! code it checks.

mod ble_dbusmock;
mod bridge_to_hub;
mod cli_metrics;
mod demo;
mod fhir_export;
mod fse_gateway;
mod import_formats;
mod mosquitto;
mod serve_demo;
mod shared_ingest;
mod web_app;
