//! # firmware-bridge
//!
//! The gateway side of pghd-hub: it keeps a session with each sensor, backfills what
//! the radio missed, and (next) spools and forwards readings to the hub over MQTT.
//!
//! Sans-IO, with time as an argument (quinn-proto's shape): a [`session::CgmSession`]
//! consumes [`link::GattEvent`]s and produces [`link::GattRequest`]s and readings, and
//! tells when it next wants to be woken; a [`link::GattLink`] carries requests to a
//! device and brings events back. One link is the simulated firmware in [`sim`], driven
//! by a virtual clock in tests; the BLE link (btleplug) comes behind the `ble` feature.

#[cfg(feature = "ble")]
pub mod ble;
pub mod envelope;
pub mod forward;
pub mod gateway;
pub mod link;
pub mod pairing;
pub mod session;
pub mod sim;
pub mod spool;
