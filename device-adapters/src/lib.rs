//! # device-adapters
//!
//! Turns whatever a sensor or an app produces into normalised readings without losing
//! or inventing anything. Pure: parsers take bytes or text and return values and
//! reports; no file, network, BLE or MQTT access happens here (the binaries do I/O).
//!
//! - [`local_time`]: resolving local wall-clock times without a zone (exports) to UTC,
//!   with DST gaps and overlaps handled and reported.
//! - [`import`]: importers for export files, each reporting every rejected row.
//! - [`theengs`]: Theengs Gateway's decoded advertisements of scales and bands.

pub mod convert;
pub mod gatt;
pub mod import;
pub mod local_time;
pub mod reading;
pub mod theengs;
