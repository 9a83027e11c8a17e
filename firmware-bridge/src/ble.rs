//! A [`GattLink`] over a real Bluetooth LE radio through btleplug (BlueZ on Linux), so
//! the sessions that run against simulated firmware in the tests run unchanged against
//! a sensor. Feature `ble`.
//!
//! The sessions are synchronous state machines; btleplug is async. Each request is
//! carried out by a task on the given tokio runtime, and its outcome comes back as a
//! [`GattEvent`] through a channel that [`GattLink::poll_event`] drains; the host keeps
//! calling `exchange` (every 100 ms or so) and the events arrive in order of completion.
//! Any failure of the radio (device not found within [`SCAN_TIMEOUT`], connection or
//! GATT error) is reported as `Disconnected`, which the session answers with its
//! reconnection backoff.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use btleplug::api::bleuuid::BleUuid as _;
use btleplug::api::{Central, Manager as _, Peripheral as _, ScanFilter, WriteType};
use btleplug::platform::{Manager, Peripheral};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::link::{GattEvent, GattLink, GattRequest};

/// How long a connection attempt scans for the device.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(10);

/// A link to the device with Bluetooth address `address` (e.g. `AA:BB:CC:DD:EE:FF`).
pub struct BtleplugLink {
    address: String,
    runtime: tokio::runtime::Handle,
    peripheral: Arc<Mutex<Option<Peripheral>>>,
    sender: mpsc::Sender<GattEvent>,
    events: mpsc::Receiver<GattEvent>,
}

impl std::fmt::Debug for BtleplugLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtleplugLink")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl BtleplugLink {
    /// A link to `address`; its tasks run on `runtime`.
    #[must_use]
    pub fn new(address: &str, runtime: tokio::runtime::Handle) -> Self {
        let (sender, events) = mpsc::channel();
        Self {
            address: address.to_ascii_uppercase(),
            runtime,
            peripheral: Arc::new(Mutex::new(None)),
            sender,
            events,
        }
    }

    fn connected(&self) -> Option<Peripheral> {
        self.peripheral.lock().ok().and_then(|p| p.clone())
    }
}

/// The health services the bridge looks for, by Bluetooth SIG assigned number.
pub const HEALTH_SERVICES: [(u16, &str); 6] = [
    (0x1808, "glucose"),
    (0x181F, "continuous glucose monitoring"),
    (0x180D, "heart rate"),
    (0x1810, "blood pressure"),
    (0x181D, "weight scale"),
    (
        device_adapters::gatt::pams::SERVICE_UUID,
        "physical activity monitor",
    ),
];

/// A device found by [`discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDevice {
    /// Bluetooth address, upper case.
    pub address: String,
    /// Advertised name, if any.
    pub name: Option<String>,
    /// The health services it advertises (16-bit UUIDs, in [`HEALTH_SERVICES`] order).
    pub services: Vec<u16>,
}

/// The first Bluetooth adapter.
async fn adapter() -> Result<btleplug::platform::Adapter, btleplug::Error> {
    Manager::new()
        .await?
        .adapters()
        .await?
        .into_iter()
        .next()
        .ok_or(btleplug::Error::DeviceNotFound)
}

/// Scans for `duration` for devices advertising one of the [`HEALTH_SERVICES`] (the scan
/// asks the adapter for those services; the advertised services are checked again here,
/// since not every adapter honours the filter) and returns them by address.
///
/// # Errors
/// No adapter, or the radio failed.
pub async fn discover(duration: Duration) -> Result<Vec<FoundDevice>, btleplug::Error> {
    let adapter = adapter().await?;
    let filter = ScanFilter {
        services: HEALTH_SERVICES
            .iter()
            .map(|(short, _)| btleplug::api::bleuuid::uuid_from_u16(*short))
            .collect(),
    };
    adapter.start_scan(filter).await?;
    tokio::time::sleep(duration).await;
    let mut found = Vec::new();
    for peripheral in adapter.peripherals().await? {
        let Some(properties) = peripheral.properties().await? else {
            continue;
        };
        let services: Vec<u16> = HEALTH_SERVICES
            .iter()
            .map(|(short, _)| *short)
            .filter(|short| {
                properties
                    .services
                    .iter()
                    .any(|uuid| uuid.to_ble_u16() == Some(*short))
            })
            .collect();
        if !services.is_empty() {
            found.push(FoundDevice {
                address: properties.address.to_string().to_ascii_uppercase(),
                name: properties.local_name,
                services,
            });
        }
    }
    let _ = adapter.stop_scan().await;
    found.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(found)
}

/// Finds, connects and discovers the device.
async fn connect(address: &str) -> Result<Peripheral, btleplug::Error> {
    let adapter = adapter().await?;
    adapter.start_scan(ScanFilter::default()).await?;
    let deadline = tokio::time::Instant::now() + SCAN_TIMEOUT;
    let peripheral = loop {
        let found = adapter
            .peripherals()
            .await?
            .into_iter()
            .find(|p| p.address().to_string().eq_ignore_ascii_case(address));
        if let Some(peripheral) = found {
            break peripheral;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(btleplug::Error::DeviceNotFound);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = adapter.stop_scan().await;
    if !peripheral.is_connected().await? {
        peripheral.connect().await?;
    }
    peripheral.discover_services().await?;
    Ok(peripheral)
}

fn characteristic(
    peripheral: &Peripheral,
    uuid: u16,
) -> Result<btleplug::api::Characteristic, btleplug::Error> {
    peripheral
        .characteristics()
        .into_iter()
        .find(|c| c.uuid.to_ble_u16() == Some(uuid))
        .ok_or_else(|| btleplug::Error::NotSupported(format!("characteristic {uuid:04X}")))
}

impl GattLink for BtleplugLink {
    fn submit(&mut self, request: GattRequest, _now: DateTime<Utc>) {
        let sender = self.sender.clone();
        match request {
            GattRequest::Connect => {
                let (address, slot) = (self.address.clone(), Arc::clone(&self.peripheral));
                self.runtime.spawn(async move {
                    match connect(&address).await {
                        Ok(peripheral) => {
                            // Notifications of every subscribed characteristic, for as
                            // long as the connection lasts.
                            if let Ok(mut stream) = peripheral.notifications().await {
                                let forward = sender.clone();
                                tokio::spawn(async move {
                                    while let Some(value) = stream.next().await {
                                        if let Some(uuid) = value.uuid.to_ble_u16() {
                                            let event = GattEvent::Notification(uuid, value.value);
                                            if forward.send(event).is_err() {
                                                break;
                                            }
                                        }
                                    }
                                });
                            }
                            if let Ok(mut slot) = slot.lock() {
                                *slot = Some(peripheral);
                            }
                            let _ = sender.send(GattEvent::Connected);
                        }
                        Err(_) => {
                            let _ = sender.send(GattEvent::Disconnected);
                        }
                    }
                });
            }
            GattRequest::Read(uuid) => {
                let Some(peripheral) = self.connected() else {
                    let _ = sender.send(GattEvent::Disconnected);
                    return;
                };
                self.runtime.spawn(async move {
                    let read = async {
                        let characteristic = characteristic(&peripheral, uuid)?;
                        peripheral.read(&characteristic).await
                    };
                    let _ = sender.send(match read.await {
                        Ok(bytes) => GattEvent::ReadResult(uuid, bytes),
                        Err(_) => GattEvent::Disconnected,
                    });
                });
            }
            GattRequest::Subscribe(uuid) => {
                let Some(peripheral) = self.connected() else {
                    let _ = sender.send(GattEvent::Disconnected);
                    return;
                };
                self.runtime.spawn(async move {
                    let subscribed = async {
                        let characteristic = characteristic(&peripheral, uuid)?;
                        peripheral.subscribe(&characteristic).await
                    };
                    if subscribed.await.is_err() {
                        let _ = sender.send(GattEvent::Disconnected);
                    }
                });
            }
            GattRequest::Write(uuid, bytes) => {
                let Some(peripheral) = self.connected() else {
                    let _ = sender.send(GattEvent::Disconnected);
                    return;
                };
                self.runtime.spawn(async move {
                    let written = async {
                        let characteristic = characteristic(&peripheral, uuid)?;
                        peripheral
                            .write(&characteristic, &bytes, WriteType::WithResponse)
                            .await
                    };
                    if written.await.is_err() {
                        let _ = sender.send(GattEvent::Disconnected);
                    }
                });
            }
            GattRequest::WriteIfPresent(uuid, bytes) => {
                let Some(peripheral) = self.connected() else {
                    return;
                };
                self.runtime.spawn(async move {
                    if let Ok(characteristic) = characteristic(&peripheral, uuid) {
                        // Best effort: a refusal leaves the connection as it is.
                        let _ = peripheral
                            .write(&characteristic, &bytes, WriteType::WithResponse)
                            .await;
                    }
                });
            }
        }
    }

    fn poll_event(&mut self, _now: DateTime<Utc>) -> Option<GattEvent> {
        let event = self.events.try_recv().ok()?;
        if event == GattEvent::Disconnected {
            if let Ok(mut slot) = self.peripheral.lock() {
                *slot = None;
            }
        }
        Some(event)
    }
}
