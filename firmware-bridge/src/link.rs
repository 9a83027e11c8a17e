//! What a session asks of a device and what comes back: GATT operations as values, so
//! the session logic never touches a radio and runs under a virtual clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A GATT operation the session wants performed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GattRequest {
    /// Connect to the device.
    Connect,
    /// Read a characteristic (16-bit UUID).
    Read(u16),
    /// Enable notifications or indications of a characteristic.
    Subscribe(u16),
    /// Write a characteristic (with response).
    Write(u16, Vec<u8>),
    /// Write a characteristic if the device has it and takes the write, best effort: a
    /// device without it, or refusing it, is not a failure (setting a device's clock
    /// through Current Time, which many devices do not let a collector do).
    WriteIfPresent(u16, Vec<u8>),
}

/// Something that happened on the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GattEvent {
    /// The connection is up.
    Connected,
    /// The connection attempt failed or the connection dropped.
    Disconnected,
    /// The value of a read.
    ReadResult(u16, Vec<u8>),
    /// A notification or indication.
    Notification(u16, Vec<u8>),
}

/// A transport to one device: takes requests, yields events, both at a given time.
pub trait GattLink {
    /// Hands `request` to the device at `now`.
    fn submit(&mut self, request: GattRequest, now: DateTime<Utc>);

    /// The next event that has happened by `now`, if any.
    fn poll_event(&mut self, now: DateTime<Utc>) -> Option<GattEvent>;
}
