//! `pghd-bridge`: the gateway's command-line tool (docs/cli.md): make the gateway's key,
//! pair with the hub, and run simulated devices through the real session, spool and
//! forwarder path to a broker.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use firmware_bridge::envelope::GatewayKey;
use firmware_bridge::gateway::Gateway;
use firmware_bridge::session::MeasurementKind;
use firmware_bridge::sim::band::{SimulatedBand, SimulatedBandConfig};
use firmware_bridge::sim::cgm::{SimulatedCgm, SimulatedCgmConfig};
use firmware_bridge::sim::heart_rate::{SimulatedHeartRate, SimulatedHeartRateConfig};
use firmware_bridge::sim::home::{SimulatedHomeDevice, SimulatedHomeDeviceConfig};
use ring::rand::SecureRandom as _;

/// pghd-bridge: the gateway between sensors and the pghd-hub.
#[derive(Debug, Parser)]
#[command(name = "pghd-bridge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make the gateway's Ed25519 key (a 32-byte seed, hex, in a new file readable by
    /// its owner only) and print its public key.
    Keygen {
        /// The key file to create (refused if it exists).
        #[arg(long)]
        key: PathBuf,
    },
    /// Pair the gateway with a patient: present the code they got from the hub.
    Pair {
        /// The hub's base URL, e.g. `http://127.0.0.1:8080`.
        #[arg(long)]
        hub: String,
        /// The pairing code (`XXXX-XXXX`).
        #[arg(long)]
        code: String,
        /// The gateway's id (1 to 64 of `A-Z a-z 0-9 . _ -`).
        #[arg(long)]
        gateway: String,
        /// The gateway's key file (`keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Scan for Bluetooth health devices (glucose meter, CGM, heart rate, blood
    /// pressure, weight scale, physical activity monitor) and list them with the health
    /// services they advertise (built with feature `ble`).
    #[cfg(feature = "ble")]
    Scan {
        /// How long to scan, seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Run a simulated CGM, heart-rate strap, blood-pressure cuff, scale, glucose meter and step/sleep band through the
    /// gateway's sessions, spool and signed forwarder to an MQTT broker, in simulated
    /// time starting now.
    Simulate {
        /// The broker, `host:port`.
        #[arg(long, default_value = "127.0.0.1:1883")]
        broker: String,
        /// The gateway's id (as paired).
        #[arg(long)]
        gateway: String,
        /// The gateway's key file.
        #[arg(long)]
        key: PathBuf,
        /// The spool directory (kept across runs: nothing unacknowledged is lost).
        #[arg(long, default_value = "pghd-bridge-spool")]
        spool: PathBuf,
        /// Simulated minutes.
        #[arg(long, default_value_t = 60)]
        minutes: u32,
        /// Simulated minutes per real second.
        #[arg(long, default_value_t = 60)]
        minutes_per_second: u32,
        /// Seed of the simulated devices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn read_key(path: &Path) -> anyhow::Result<GatewayKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the key file {}", path.display()))?;
    let text = text.trim();
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect();
    let seed: [u8; 32] = bytes
        .and_then(|b| b.try_into().ok())
        .context("the key file must hold 64 hex digits")?;
    GatewayKey::from_seed(&seed).map_err(|e| anyhow::anyhow!("key rejected: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen { key } => {
            let mut seed = [0_u8; 32];
            ring::rand::SystemRandom::new()
                .fill(&mut seed)
                .map_err(|_| anyhow::anyhow!("no system randomness"))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&key)
                .with_context(|| format!("create {} (it must not exist)", key.display()))?;
            writeln!(file, "{}", hex(&seed))?;
            file.sync_all()?;
            let public = GatewayKey::from_seed(&seed)
                .map_err(|e| anyhow::anyhow!("key rejected: {e}"))?
                .public_key();
            println!("{}", hex(&public));
            Ok(())
        }
        Command::Pair {
            hub,
            code,
            gateway,
            key,
        } => {
            let key = read_key(&key)?;
            let paired = firmware_bridge::pairing::pair(&hub, &code, &gateway, &key)?;
            println!("paired {}; publishing on {}", paired.gateway, paired.topic);
            Ok(())
        }
        #[cfg(feature = "ble")]
        Command::Scan { seconds } => {
            let runtime = tokio::runtime::Runtime::new()?;
            eprintln!("scanning for {seconds} s ...");
            let found = runtime.block_on(firmware_bridge::ble::discover(
                std::time::Duration::from_secs(seconds),
            ))?;
            for device in &found {
                let services: Vec<&str> = device
                    .services
                    .iter()
                    .filter_map(|s| {
                        firmware_bridge::ble::HEALTH_SERVICES
                            .iter()
                            .find(|(short, _)| short == s)
                            .map(|(_, name)| *name)
                    })
                    .collect();
                println!(
                    "{}  {:<24}  {}",
                    device.address,
                    device.name.as_deref().unwrap_or("(no name)"),
                    services.join(", ")
                );
            }
            eprintln!("{} health device(s) found", found.len());
            Ok(())
        }
        Command::Simulate {
            broker,
            gateway,
            key,
            spool,
            minutes,
            minutes_per_second,
            seed,
        } => {
            let (host, port) = broker
                .rsplit_once(':')
                .context("--broker must be host:port")?;
            let port: u16 = port.parse().context("--broker port")?;
            if minutes_per_second == 0 {
                bail!("--minutes-per-second must be at least 1");
            }
            let key = read_key(&key)?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(simulate(
                host,
                port,
                &gateway,
                key,
                &spool,
                minutes,
                minutes_per_second,
                seed,
            ))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn simulate(
    host: &str,
    port: u16,
    gateway: &str,
    key: GatewayKey,
    spool: &Path,
    minutes: u32,
    minutes_per_second: u32,
    seed: u64,
) -> anyhow::Result<()> {
    let start: DateTime<Utc> = Utc::now();
    let mut bridge = Gateway::start(gateway, host, port, key, spool, start)?;
    eprintln!(
        "spool {}: {} messages pending from before; simulating {minutes} min at {minutes_per_second} min/s",
        spool.display(),
        bridge.pending_at_start
    );
    let mut cgm = SimulatedCgm::new(SimulatedCgmConfig {
        session_start: start,
        seed,
        warm_up_min: 0,
        ..SimulatedCgmConfig::default()
    });
    let mut strap = SimulatedHeartRate::new(SimulatedHeartRateConfig {
        interval_s: 60,
        seed,
        ..SimulatedHeartRateConfig::default()
    });
    let mut cuff = SimulatedHomeDevice::new(SimulatedHomeDeviceConfig {
        seed,
        ..SimulatedHomeDeviceConfig::cuff()
    });
    let mut scale = SimulatedHomeDevice::new(SimulatedHomeDeviceConfig {
        seed,
        ..SimulatedHomeDeviceConfig::scale()
    });
    let mut meter = SimulatedHomeDevice::new(SimulatedHomeDeviceConfig {
        seed,
        ..SimulatedHomeDeviceConfig::glucose_meter()
    });
    let mut band = SimulatedBand::new(SimulatedBandConfig {
        seed,
        ..SimulatedBandConfig::new(start)
    });
    let zone = chrono_tz::Europe::Rome;
    let pause = Duration::from_secs_f64(1.0 / f64::from(minutes_per_second));
    for minute in 0..=minutes {
        let now = start + chrono::Duration::minutes(i64::from(minute));
        bridge.step(&mut cgm, now)?;
        bridge.step_device(MeasurementKind::HeartRate, "SIM-HRM-1", &mut strap, now)?;
        bridge.step_device(
            MeasurementKind::BloodPressure { zone },
            "SIM-BPM-1",
            &mut cuff,
            now,
        )?;
        bridge.step_device(
            MeasurementKind::Weight { zone },
            "SIM-SCALE-1",
            &mut scale,
            now,
        )?;
        bridge.step_device(
            MeasurementKind::GlucoseMeter { zone },
            "SIM-BGM-1",
            &mut meter,
            now,
        )?;
        bridge.step_device(
            MeasurementKind::ActivityMonitor,
            "SIM-BAND-1",
            &mut band,
            now,
        )?;
        while let Some((device, issue)) = bridge.poll_issue() {
            eprintln!("  {device}: {issue}");
        }
        if minute % 60 == 0 {
            eprintln!("  {minute:>5} min: {} readings forwarded", bridge.counter);
        }
        tokio::time::sleep(pause).await;
    }
    let counter = bridge.counter;
    let left = bridge.finish().await?;
    eprintln!("done: {counter} readings sealed; {left} messages left in the spool");
    Ok(())
}
