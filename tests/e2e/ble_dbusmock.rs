//! The CGM session over a real btleplug link (`firmware_bridge::ble::BtleplugLink`),
//! against BlueZ's D-Bus API emulated by python-dbusmock (Debian `python3-dbusmock`,
//! template `bluez5`) on a private system bus started here (`dbus-daemon` with its own
//! configuration; `DBUS_SYSTEM_BUS_ADDRESS`). There is no Bluetooth in these machines'
//! kernels, so this is how btleplug's own code runs in the tests: scan, connect,
//! discover, read the CGM Session Start Time, subscribe, write the RACP request, and
//! take notifications driven through `PropertiesChanged(Value)`.
//!
//! Without `dbus-daemon` or the Debian python3-dbusmock the test says so and passes,
//! unless `PGHD_REQUIRE_DBUSMOCK` is set (`.ci/run` sets it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Duration as Minutes, Utc};
use device_adapters::gatt::cgm::{self, CrcCheck, SessionStartTime};
use device_adapters::gatt::racp::{self, RacpMessage, ResponseCode};
use device_adapters::gatt::DateTime as GattDateTime;
use firmware_bridge::ble::BtleplugLink;
use firmware_bridge::session::{CgmSession, GattSession as _, SessionConfig, SessionState};

const ADDRESS: &str = "C0:FF:EE:00:00:01";

/// Debian's Python, which sees Debian's python3-dbusmock (a pyenv Python would not).
const PYTHON: &str = "/usr/bin/python3";

/// Adds the CGM to the mocked adapter: the device (connected, services resolved), the
/// CGM service with Session Start Time (readable, holding `start_hex`), CGM Measurement
/// and RACP (notify; RACP writable), and an Introspect that lists the service's
/// interfaces before its child nodes (dbusmock's own lists interfaces added later after
/// the nodes, which btleplug's XML parser refuses: "duplicate field `interface`").
const SETUP: &str = r#"
import dbus, sys
bus = dbus.SystemBus()
root = dbus.Interface(bus.get_object("org.bluez", "/"), "org.freedesktop.DBus.Mock")
bluez = dbus.Interface(bus.get_object("org.bluez", "/"), "org.bluez.Mock")
bluez.AddAdapter("hci0", "gateway")
dev = bluez.AddDevice("hci0", sys.argv[1], "Simulated CGM")
uuid = lambda short: "0000%04x-0000-1000-8000-00805f9b34fb" % short
svc = dev + "/service0001"
chars = {0x2AAA: "char0002", 0x2AA7: "char0004", 0x2A52: "char0006"}
svc_props = {"UUID": dbus.String(uuid(0x181F)), "Primary": dbus.Boolean(True),
             "Device": dbus.ObjectPath(dev), "Includes": dbus.Array([], signature="o")}
root.AddObject(svc, "org.bluez.GattService1", svc_props, [])
added = {svc: {"org.bluez.GattService1": svc_props}}
for short, name in chars.items():
    path = svc + "/" + name
    value = bytes.fromhex(sys.argv[2]) if short == 0x2AAA else b""
    props = {"UUID": dbus.String(uuid(short)), "Service": dbus.ObjectPath(svc),
             "Value": dbus.Array([dbus.Byte(b) for b in value], signature="y"),
             "Notifying": dbus.Boolean(False),
             "Flags": dbus.Array(["read", "notify", "indicate", "write"], signature="s")}
    root.AddObject(path, "org.bluez.GattCharacteristic1", props, [
        ("ReadValue", "a{sv}", "ay", 'ret = self.Get("org.bluez.GattCharacteristic1", "Value")'),
        ("WriteValue", "aya{sv}", "", 'self.Set("org.bluez.GattCharacteristic1", "Value", args[0])'),
        ("StartNotify", "", "", 'self.Set("org.bluez.GattCharacteristic1", "Notifying", True)'),
        ("StopNotify", "", "", 'self.Set("org.bluez.GattCharacteristic1", "Notifying", False)'),
    ])
    added[path] = {"org.bluez.GattCharacteristic1": props}
nodes = "".join('<node name="%s"/>' % name for name in chars.values())
xml = ('<node><interface name="org.freedesktop.DBus.Introspectable"><method name="Introspect">'
       '<arg direction="out" type="s"/></method></interface>'
       '<interface name="org.freedesktop.DBus.Properties"></interface>'
       '<interface name="org.bluez.GattService1"></interface>' + nodes + '</node>')
mock = lambda path: dbus.Interface(bus.get_object("org.bluez", path), "org.freedesktop.DBus.Mock")
mock(svc).AddMethod("org.freedesktop.DBus.Introspectable", "Introspect", "", "s", "ret = %r" % xml)
for path, interfaces in added.items():
    root.EmitSignal("org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "oa{sa{sv}}",
                    dbus.Array([dbus.ObjectPath(path), dbus.Dictionary(interfaces, signature="sa{sv}")],
                               signature="v"))
mock(dev).UpdateProperties("org.bluez.Device1",
                           {"Connected": dbus.Boolean(True), "ServicesResolved": dbus.Boolean(True),
                            "UUIDs": dbus.Array([uuid(0x181F), uuid(0x180A)], signature="s")})
"#;

/// `VALUE CHARACTERISTIC_NODE HEX`: the device notifies a value (PropertiesChanged on
/// the characteristic's Value), or `READ CHARACTERISTIC_NODE`: prints its Value in hex.
const DEVICE: &str = r#"
import dbus, sys
bus = dbus.SystemBus()
path = "/org/bluez/hci0/dev_" + sys.argv[2].replace(":", "_") + "/service0001/" + sys.argv[3]
obj = bus.get_object("org.bluez", path)
if sys.argv[1] == "VALUE":
    dbus.Interface(obj, "org.freedesktop.DBus.Mock").UpdateProperties(
        "org.bluez.GattCharacteristic1",
        {"Value": dbus.Array([dbus.Byte(b) for b in bytes.fromhex(sys.argv[4])], signature="y")})
else:
    value = dbus.Interface(obj, "org.freedesktop.DBus.Properties").Get("org.bluez.GattCharacteristic1", "Value")
    print(bytes(value).hex())
"#;

/// The private system bus and the mock; both are stopped on drop.
struct MockBluez {
    bus: Child,
    mock: Child,
    directory: PathBuf,
    address: String,
}

impl Drop for MockBluez {
    fn drop(&mut self) {
        for child in [&mut self.mock, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn python(script: &str, args: &[&str], bus: &str) -> std::process::Output {
    Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .output()
        .expect("python3 runs")
}

fn start_mock_bluez(start_time: &[u8]) -> Option<MockBluez> {
    let available = Command::new("dbus-daemon")
        .arg("--version")
        .output()
        .is_ok()
        && Command::new(PYTHON)
            .args(["-c", "import dbusmock"])
            .status()
            .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("PGHD_REQUIRE_DBUSMOCK").is_err(),
            "PGHD_REQUIRE_DBUSMOCK is set but dbus-daemon or python3-dbusmock is missing"
        );
        eprintln!("BLE test not run: dbus-daemon or Debian's python3-dbusmock is missing");
        return None;
    }
    let directory = std::env::temp_dir().join(format!("pghd-ble-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    let socket = directory.join("system_bus_socket");
    let config = directory.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/>
<allow send_type="method_call"/><allow send_type="signal"/><allow send_type="method_return"/><allow send_type="error"/>
<allow receive_type="method_call"/><allow receive_type="signal"/><allow receive_type="method_return"/><allow receive_type="error"/>
</policy></busconfig>"#,
            socket.display()
        ),
    )
    .unwrap();
    let bus = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .arg("--nofork")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let address = format!("unix:path={}", socket.display());
    wait_for(|| socket.exists(), "the private system bus");
    let mock = Command::new(PYTHON)
        .args(["-m", "dbusmock", "--system", "--template", "bluez5"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mocked = MockBluez {
        bus,
        mock,
        directory,
        address,
    };
    wait_for(
        || {
            python(
                "import dbus; dbus.SystemBus().get_object('org.bluez', '/').Introspect()",
                &[],
                &mocked.address,
            )
            .status
            .success()
        },
        "the bluez5 mock",
    );
    let hex: String = start_time.iter().map(|b| format!("{b:02x}")).collect();
    let setup = python(SETUP, &[ADDRESS, &hex], &mocked.address);
    assert!(
        setup.status.success(),
        "mock set-up: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    Some(mocked)
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    for _ in 0..100 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not come up");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_cgm_session_runs_over_btleplug_against_mocked_bluez() {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_767_258_000, 0).unwrap(); // 2026-01-01 09:00 UTC
    let session_start = SessionStartTime {
        start: GattDateTime::from_naive((start + Minutes::hours(1)).naive_utc()),
        time_zone_quarter_hours: Some(4),
        dst_quarter_hours: Some(0),
        crc: CrcCheck::Mcrf4xx,
    };
    let mut start_bytes = Vec::new();
    cgm::encode_session_start_time(&session_start, &mut start_bytes);
    let Some(bluez) = start_mock_bluez(&start_bytes) else {
        return;
    };
    // btleplug finds the system bus through this variable; only this test uses it.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &bluez.address);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Discovery: the CGM advertises the CGM service (and Device Information, not a
    // health service); it is found with its name and its health service only.
    let found = runtime
        .block_on(firmware_bridge::ble::discover(Duration::from_millis(300)))
        .unwrap();
    assert_eq!(
        found,
        [firmware_bridge::ble::FoundDevice {
            address: ADDRESS.into(),
            name: Some("Simulated CGM".into()),
            services: vec![0x181F],
        }]
    );
    let mut link = BtleplugLink::new(ADDRESS, runtime.handle().clone());
    let mut session = CgmSession::new(SessionConfig::default(), None, None, start);
    let pump =
        |session: &mut CgmSession, link: &mut BtleplugLink, until: &dyn Fn(&CgmSession) -> bool| {
            for _ in 0..200 {
                session.exchange(link, Utc::now());
                if until(session) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("session stuck in {:?}", session.state());
        };
    // Connect, read the session start, subscribe, ask for every stored record.
    pump(&mut session, &mut link, &|s| {
        s.state() == SessionState::Backfilling
    });
    assert_eq!(session.session_start(), Some(session_start));
    let mut expected = Vec::new();
    racp::encode(
        &RacpMessage::ReportStoredRecords(racp::RecordFilter::All),
        &mut expected,
    );
    wait_for(
        || {
            String::from_utf8_lossy(
                &python(DEVICE, &["READ", ADDRESS, "char0006"], &bluez.address).stdout,
            )
            .trim()
                == hex(&expected)
        },
        "the RACP request on the device",
    );

    // The device answers: one stored record (5 minutes in, 123 mg/dL), then the RACP
    // response; both as notifications (PropertiesChanged on Value).
    let record = firmware_bridge::sim::cgm::SimulatedCgm::record_bytes(5, 123.0);
    let mut response = Vec::new();
    racp::encode(
        &RacpMessage::Response {
            request_op_code: 1,
            code: ResponseCode::Success,
        },
        &mut response,
    );
    for (node, bytes) in [("char0004", &record), ("char0006", &response)] {
        let sent = python(
            DEVICE,
            &["VALUE", ADDRESS, node, &hex(bytes)],
            &bluez.address,
        );
        assert!(
            sent.status.success(),
            "{}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }
    pump(&mut session, &mut link, &|s| {
        s.state() == SessionState::Streaming
    });
    let reading = session
        .poll_reading()
        .expect("the notified record became a reading");
    assert_eq!(reading.glucose_mg_dl(), Some(123.0));
    // Session start 10:00 local at UTC+1 (4 quarter hours), no DST: 09:00 UTC; +5 min.
    assert_eq!(reading.time, start + Minutes::minutes(5));
    assert_eq!(session.cursor(), Some(5));
    assert_eq!(session.stats().backfills, 1);
    assert!(session.poll_reading().is_none());
    drop(link);
    drop(bluez);
}
