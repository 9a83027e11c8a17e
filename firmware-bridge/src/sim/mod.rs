//! Simulated sensor firmware for tests, demonstrations and load: virtual devices that
//! speak the real GATT byte formats and keep stored records for backfill, driven by the
//! time their caller passes in. Deterministic from a seed.

pub mod blood_pressure;
pub mod cgm;
pub mod heart_rate;
