//! CGM Service configuration and state (CGMS 1.0.1): CGM Feature 0x2AA8 (§3.3), CGM
//! Status 0x2AA9 (§3.4) and the CGM Specific Ops Control Point 0x2AAC (§3.8).
//!
//! ```text
//! Feature:  features u24 | type (low nibble) / location (high nibble) u8 | E2E-CRC u16
//!           (the CRC field is always there; 0xFFFF when the sensor does not support
//!           E2E-CRC, feature bit 12)
//! Status:   time offset u16 min | status u8 | cal/temp u8 | warning u8 | [E2E-CRC u16]
//! SOCP:     op code u8 | operand … | [E2E-CRC u16]
//! ```

use serde::{Deserialize, Serialize};

use super::cgm::CrcCheck;
use super::crc::{self, crc16_ccitt_false, crc16_mcrf4xx};
use super::ieee11073::SFloat;
use super::{Characteristic, DecodeError, Reader};

/// Feature bit 12: the sensor supports E2E-CRC.
pub const FEATURE_E2E_CRC: u32 = 1 << 12;

/// CGM Feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CgmFeature {
    /// Feature bits (24 bits).
    pub features: u32,
    /// Sample type code (GSS type nibble; 9 = interstitial fluid).
    pub sample_type: u8,
    /// Sample location code (GSS location nibble; 5 = subcutaneous tissue).
    pub sample_location: u8,
    /// Whether the CRC checked (`Absent` when E2E-CRC is not supported).
    pub crc: CrcCheck,
}

/// Decodes CGM Feature.
///
/// # Errors
/// [`DecodeError`] for a value that is not 6 bytes or a bad CRC when E2E-CRC is supported.
pub fn decode_feature(bytes: &[u8]) -> Result<CgmFeature, DecodeError> {
    let characteristic = Characteristic::CgmFeature;
    let mut r = Reader::new(characteristic, bytes);
    let raw = r.take("features", 3)?;
    let features = u32::from(raw[0]) | u32::from(raw[1]) << 8 | u32::from(raw[2]) << 16;
    let type_location = r.u8("type-sample location")?;
    let crc_at = r.offset();
    let found = r.u16("E2E-CRC")?;
    r.finish("value")?;
    let crc = if features & FEATURE_E2E_CRC == 0 {
        if found != 0xFFFF {
            return Err(r.reserved(
                "E2E-CRC (not supported, must be 0xFFFF)",
                crc_at,
                u32::from(found),
            ));
        }
        CrcCheck::Absent
    } else {
        crc::verify(characteristic, &bytes[..4], found, crc_at)?
    };
    Ok(CgmFeature {
        features,
        sample_type: type_location & 0x0F,
        sample_location: type_location >> 4,
        crc,
    })
}

/// Encodes CGM Feature (CRC 0xFFFF when `crc` is `Absent`).
pub fn encode_feature(value: &CgmFeature, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&value.features.to_le_bytes()[..3]);
    out.push((value.sample_location << 4) | (value.sample_type & 0x0F));
    let crc = match value.crc {
        CrcCheck::Absent => 0xFFFF,
        CrcCheck::Mcrf4xx => crc16_mcrf4xx(&out[start..]),
        CrcCheck::CcittFalse => crc16_ccitt_false(&out[start..]),
    };
    out.extend_from_slice(&crc.to_le_bytes());
}

/// CGM Status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CgmStatus {
    /// Minutes since session start.
    pub time_offset_min: u16,
    /// Status octet.
    pub status: u8,
    /// Calibration/temperature octet.
    pub cal_temp: u8,
    /// Warning octet.
    pub warning: u8,
    /// CRC carried.
    pub crc: CrcCheck,
}

/// Decodes CGM Status.
///
/// # Errors
/// [`DecodeError`] for truncated values, trailing bytes or a bad CRC.
pub fn decode_status(bytes: &[u8]) -> Result<CgmStatus, DecodeError> {
    let characteristic = Characteristic::CgmStatus;
    let mut r = Reader::new(characteristic, bytes);
    let time_offset_min = r.u16("time offset")?;
    let octets = r.take("status", 3)?;
    let crc = if r.remaining() == 0 {
        CrcCheck::Absent
    } else {
        let at = r.offset();
        let found = r.u16("E2E-CRC")?;
        r.finish("value")?;
        crc::verify(characteristic, &bytes[..5], found, at)?
    };
    Ok(CgmStatus {
        time_offset_min,
        status: octets[0],
        cal_temp: octets[1],
        warning: octets[2],
        crc,
    })
}

/// Encodes CGM Status.
pub fn encode_status(value: &CgmStatus, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&value.time_offset_min.to_le_bytes());
    out.extend([value.status, value.cal_temp, value.warning]);
    crc::append(value.crc, start, out);
}

/// An alert level the collector sets or reads (op codes 7–24), in the unit the
/// specification gives each (mg/dL, or mg/dL per minute for rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    /// Patient high (7 set, 8 get, 9 response).
    PatientHigh,
    /// Patient low (10–12).
    PatientLow,
    /// Hypo (13–15).
    Hypo,
    /// Hyper (16–18).
    Hyper,
    /// Rate of decrease (19–21).
    RateOfDecrease,
    /// Rate of increase (22–24).
    RateOfIncrease,
}

/// A SOCP message. Calibration records (op codes 4–6) are kept as raw operand bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocpMessage {
    /// 1: set the communication interval, minutes (0 disables, 255 fastest).
    SetCommunicationInterval(u8),
    /// 2: get the communication interval.
    GetCommunicationInterval,
    /// 3: the communication interval, minutes.
    CommunicationInterval(u8),
    /// 4–6: calibration value set/get/response, raw operand.
    Calibration {
        /// Op code (4, 5 or 6).
        op_code: u8,
        /// Operand bytes.
        operand: Vec<u8>,
    },
    /// Set an alert level.
    SetAlert(AlertLevel, SFloat),
    /// Get an alert level.
    GetAlert(AlertLevel),
    /// An alert level (response).
    Alert(AlertLevel, SFloat),
    /// 25: reset the device-specific alert.
    ResetDeviceSpecificAlert,
    /// 26: start the session.
    StartSession,
    /// 27: stop the session.
    StopSession,
    /// 28: response to `request_op_code` with `code` (1 success, 2 op code not
    /// supported, 3 invalid operand, 4 procedure not completed, 5 parameter out of range).
    Response {
        /// Request answered.
        request_op_code: u8,
        /// Response code.
        code: u8,
    },
}

const ALERTS: [AlertLevel; 6] = [
    AlertLevel::PatientHigh,
    AlertLevel::PatientLow,
    AlertLevel::Hypo,
    AlertLevel::Hyper,
    AlertLevel::RateOfDecrease,
    AlertLevel::RateOfIncrease,
];

/// Decodes a SOCP value; `with_crc` says whether the sensor uses E2E-CRC (CGM Feature).
///
/// # Errors
/// [`DecodeError`] for unknown op codes, wrong operand lengths or a bad CRC.
pub fn decode_socp(bytes: &[u8], with_crc: bool) -> Result<(SocpMessage, CrcCheck), DecodeError> {
    let characteristic = Characteristic::CgmSpecificOpsControlPoint;
    let body_len = if with_crc {
        bytes.len().saturating_sub(2)
    } else {
        bytes.len()
    };
    let crc = if with_crc {
        let mut tail = Reader::with_base(
            characteristic,
            bytes.get(body_len..).unwrap_or_default(),
            body_len,
        );
        let found = tail.u16("E2E-CRC")?;
        crc::verify(characteristic, &bytes[..body_len], found, body_len)?
    } else {
        CrcCheck::Absent
    };
    let mut r = Reader::new(characteristic, &bytes[..body_len]);
    let op = r.u8("op code")?;
    let message = match op {
        1 => SocpMessage::SetCommunicationInterval(r.u8("interval")?),
        2 => SocpMessage::GetCommunicationInterval,
        3 => SocpMessage::CommunicationInterval(r.u8("interval")?),
        4..=6 => SocpMessage::Calibration {
            op_code: op,
            operand: r.take("calibration operand", r.remaining())?.to_vec(),
        },
        7..=24 => {
            let alert = ALERTS[usize::from((op - 7) / 3)];
            match (op - 7) % 3 {
                0 => SocpMessage::SetAlert(alert, r.sfloat("alert level")?),
                1 => SocpMessage::GetAlert(alert),
                _ => SocpMessage::Alert(alert, r.sfloat("alert level")?),
            }
        }
        25 => SocpMessage::ResetDeviceSpecificAlert,
        26 => SocpMessage::StartSession,
        27 => SocpMessage::StopSession,
        28 => SocpMessage::Response {
            request_op_code: r.u8("request op code")?,
            code: r.u8("response code")?,
        },
        other => return Err(r.reserved("op code", 0, u32::from(other))),
    };
    r.finish("operand")?;
    Ok((message, crc))
}

/// Encodes a SOCP value (with an MCRF4XX CRC unless `crc` is `Absent`).
pub fn encode_socp(message: &SocpMessage, crc: CrcCheck, out: &mut Vec<u8>) {
    let start = out.len();
    let alert_op = |level: &AlertLevel, kind: u8| {
        7 + 3 * ALERTS.iter().position(|a| a == level).unwrap_or(0) as u8 + kind
    };
    match message {
        SocpMessage::SetCommunicationInterval(m) => out.extend([1, *m]),
        SocpMessage::GetCommunicationInterval => out.push(2),
        SocpMessage::CommunicationInterval(m) => out.extend([3, *m]),
        SocpMessage::Calibration { op_code, operand } => {
            out.push(*op_code);
            out.extend_from_slice(operand);
        }
        SocpMessage::SetAlert(level, value) => {
            out.push(alert_op(level, 0));
            out.extend_from_slice(&value.to_raw().to_le_bytes());
        }
        SocpMessage::GetAlert(level) => out.push(alert_op(level, 1)),
        SocpMessage::Alert(level, value) => {
            out.push(alert_op(level, 2));
            out.extend_from_slice(&value.to_raw().to_le_bytes());
        }
        SocpMessage::ResetDeviceSpecificAlert => out.push(25),
        SocpMessage::StartSession => out.push(26),
        SocpMessage::StopSession => out.push(27),
        SocpMessage::Response {
            request_op_code,
            code,
        } => out.extend([28, *request_op_code, *code]),
    }
    crc::append(crc, start, out);
}
