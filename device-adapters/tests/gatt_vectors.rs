//! Every byte vector of the shared reference list (`shared/reference/gatt-vectors.md`,
//! vectors collected from public parsers' tests and checked by hand against the
//! Bluetooth SIG specifications) decodes to the documented values. One row per vector:
//! the hex as on the air and what it must mean.

use device_adapters::gatt::cgm::{self, CrcCheck};
use device_adapters::gatt::glucose::{self, ConcentrationUnit, SampleLocation, SampleType};
use device_adapters::gatt::heart_rate::{self, SensorContact};
use device_adapters::gatt::ieee11073::{Medfloat, SFloat};
use device_adapters::gatt::racp::{self, RacpMessage, ResponseCode};
use device_adapters::gatt::{blood_pressure, parse_hex, Characteristic, DecodeError};

fn hex(text: &str) -> Vec<u8> {
    parse_hex(text).unwrap()
}

fn value(s: SFloat) -> f64 {
    s.to_f64().expect("a number, not a special value")
}

#[test]
fn cgm_measurement_with_every_field_and_crc() {
    let records = cgm::decode_notification(&hex("0F E3 D2 E4 05 00 02 14 FF 02 F0 E5 F3 8E 3F"));
    assert_eq!(records.len(), 1);
    let m = records[0].as_ref().unwrap();
    assert!((value(m.glucose_mg_dl) - 12.34).abs() < 1e-12);
    assert_eq!(m.time_offset_min, 5);
    assert_eq!(
        (m.status, m.cal_temp, m.warning),
        (Some(0x02), Some(0x14), Some(0xFF))
    );
    assert!((value(m.trend_mg_dl_per_min.unwrap()) - 0.2).abs() < 1e-12);
    assert!((value(m.quality_percent.unwrap()) - 99.7).abs() < 1e-12);
    assert_eq!(m.crc, CrcCheck::Mcrf4xx);
}

#[test]
fn cgm_measurement_minimal_and_bad_crc_in_one_notification() {
    // Two records in one notification: the good one survives the bad one.
    let records = cgm::decode_notification(&hex("06 00 0C 10 06 00  08 00 0C 10 06 00 58 6F"));
    assert_eq!(records.len(), 2);
    let good = records[0].as_ref().unwrap();
    assert!((value(good.glucose_mg_dl) - 120.0).abs() < 1e-12);
    assert_eq!(good.time_offset_min, 6);
    assert_eq!(good.crc, CrcCheck::Absent);
    assert_eq!(
        records[1],
        Err(DecodeError::BadCrc {
            characteristic: Characteristic::CgmMeasurement,
            offset: 12,
            expected: 0x6F59,
            found: 0x6F58
        })
    );
}

#[test]
fn cgm_measurement_from_a_field_device_with_ccitt_crc() {
    let records = cgm::decode_notification(&hex("0e c3 f9 00 f4 0b 00 00 74 e0 0a 00 e0 f1"));
    let m = records[0].as_ref().unwrap();
    assert!((value(m.glucose_mg_dl) - 249.0).abs() < 1e-12);
    assert_eq!(m.time_offset_min, 3060);
    assert!((value(m.trend_mg_dl_per_min.unwrap()) - 1.16).abs() < 1e-12);
    assert!((value(m.quality_percent.unwrap()) - 10.0).abs() < 1e-12);
    assert_eq!(
        m.crc,
        CrcCheck::CcittFalse,
        "the decoder reports which check passed"
    );
}

#[test]
fn cgm_session_start_and_run_time() {
    let start = cgm::decode_session_start_time(&hex("E2 07 04 18 0D 08 18 08 04 E0 C2")).unwrap();
    assert_eq!(
        start.start.to_naive().unwrap().to_string(),
        "2018-04-24 13:08:24"
    );
    assert_eq!(
        start.time_zone_quarter_hours,
        Some(8),
        "8 × 15 min = +2:00, not 8 minutes"
    );
    assert_eq!(start.dst_quarter_hours, Some(4), "+1 h");
    assert_eq!(start.utc_offset_min(), Some(180));
    assert_eq!(start.crc, CrcCheck::Mcrf4xx);
    // Reading time = session start (with its zone) + time offset.
    assert_eq!(
        start.reading_instant(60).unwrap().to_rfc3339(),
        "2018-04-24T11:08:24+00:00"
    );
    assert_eq!(
        cgm::decode_session_run_time(&hex("02 00 08 C3")).unwrap(),
        (2, CrcCheck::Mcrf4xx)
    );
}

#[test]
fn glucose_measurement() {
    let m = glucose::decode(&hex("1B 01 00 E3 07 02 1B 0B 0A 1E FB FF 1E 00 12 05 01")).unwrap();
    assert_eq!(m.sequence_number, 1);
    assert_eq!(
        m.base_time.to_naive().unwrap().to_string(),
        "2019-02-27 11:10:30"
    );
    assert_eq!(m.time_offset_min, Some(-5));
    assert_eq!(m.local_time().unwrap().to_string(), "2019-02-27 11:05:30");
    let c = m.concentration.unwrap();
    assert_eq!(
        c.value.0,
        Medfloat::Value {
            mantissa: 30,
            exponent: 0
        }
    );
    assert_eq!(c.unit, ConcentrationUnit::KgPerL);
    assert_eq!(c.sample_type, SampleType::CapillaryPlasma);
    assert_eq!(c.location, SampleLocation::Finger);
    assert_eq!(m.status, Some(0x0105));
    assert!(m.context_follows);
}

#[test]
fn record_access_control_point_responses() {
    assert_eq!(
        racp::decode(&hex("06 00 01 01")).unwrap(),
        RacpMessage::Response {
            request_op_code: 1,
            code: ResponseCode::Success
        }
    );
    assert_eq!(
        racp::decode(&hex("05 00 02 01")).unwrap(),
        RacpMessage::NumberOfRecords(258)
    );
}

#[test]
fn heart_rate() {
    let simple = heart_rate::decode(&hex("00 55")).unwrap();
    assert_eq!(simple.bpm, 85);
    assert_eq!(simple.contact, SensorContact::NotSupported);
    let full = heart_rate::decode(&hex("1F 01 01 32 01 01 00 02 01 FF FF")).unwrap();
    assert_eq!(full.bpm, 257);
    assert_eq!(full.contact, SensorContact::Detected);
    assert_eq!(full.energy_kj, Some(306));
    assert_eq!(full.rr_intervals_1024ths, vec![1, 258, 65535]);
}

#[test]
fn blood_pressure() {
    let m = blood_pressure::decode(
        &hex("1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"),
        false,
    )
    .unwrap();
    assert_eq!(m.unit, blood_pressure::PressureUnit::MmHg);
    assert_eq!(
        (
            value(m.systolic),
            value(m.diastolic),
            value(m.mean_arterial)
        ),
        (138.0, 88.0, 120.0)
    );
    let stamp = m.time_stamp.unwrap();
    assert_eq!(
        (
            stamp.year,
            stamp.month,
            stamp.day,
            stamp.hours,
            stamp.minutes,
            stamp.seconds
        ),
        (0, 4, 17, 20, 41, 59)
    );
    assert_eq!(stamp.to_naive(), None, "year 0 means unknown year");
    assert!((value(m.pulse_bpm.unwrap()) - 60.0).abs() < 1e-12);
    assert_eq!(m.user_id, Some(1));
    assert_eq!(m.status, Some(0x27));
}

#[test]
fn bad_input_names_characteristic_field_and_offset() {
    let truncated = glucose::decode(&hex("1B 01 00 E3 07 02 1B 0B 0A 1E FB FF 1E")).unwrap_err();
    assert_eq!(
        truncated,
        DecodeError::Truncated {
            characteristic: Characteristic::GlucoseMeasurement,
            field: "concentration",
            offset: 12,
            need: 2,
            got: 1
        }
    );
    assert!(truncated.to_string().contains("concentration at byte 12"));
    let reserved_flags = cgm::decode_notification(&hex("06 04 0C 10 06 00"));
    assert!(matches!(
        reserved_flags[0],
        Err(DecodeError::Reserved {
            field: "flags",
            offset: 1,
            ..
        })
    ));
    let bad_month = glucose::decode(&hex("00 01 00 E3 07 0D 1B 0B 0A 1E")).unwrap_err();
    assert!(matches!(
        bad_month,
        DecodeError::Reserved {
            field: "base time",
            offset: 5,
            value: 13,
            ..
        }
    ));
    let control_type = glucose::decode(&hex("02 01 00 E3 07 02 1B 0B 0A 1E 1E 00 1B")).unwrap_err();
    assert!(matches!(
        control_type,
        DecodeError::Reserved {
            field: "sample type",
            value: 11,
            ..
        }
    ));
    let zero_size = cgm::decode_notification(&hex("00 00"));
    assert!(matches!(
        zero_size[0],
        Err(DecodeError::BadLength { field: "size", .. })
    ));
    assert!(matches!(
        racp::decode(&hex("07 00")),
        Err(DecodeError::Reserved {
            field: "op code",
            ..
        })
    ));
    assert!(
        heart_rate::decode(&hex("10 48 01")).is_err(),
        "half an RR interval"
    );
}

#[test]
fn cgm_feature_status_and_specific_ops() {
    use device_adapters::gatt::cgm_control::{self, SocpMessage};
    let feature = cgm_control::decode_feature(&hex("6E 9E 01 16 8A C1")).unwrap();
    assert_eq!(feature.features, 0x01_9E6E);
    assert_ne!(
        feature.features & cgm_control::FEATURE_E2E_CRC,
        0,
        "E2E-CRC supported"
    );
    assert_eq!((feature.sample_type, feature.sample_location), (6, 1));
    assert_eq!(feature.crc, CrcCheck::Mcrf4xx);

    let status = cgm_control::decode_status(&hex("05 00 3F 3F FF A7 E0")).unwrap();
    assert_eq!(status.time_offset_min, 5);
    assert_eq!(
        (status.status, status.cal_temp, status.warning),
        (0x3F, 0x3F, 0xFF)
    );
    assert_eq!(status.crc, CrcCheck::Mcrf4xx);

    let (response, crc) = cgm_control::decode_socp(&hex("1C 02 01 3C 3B"), true).unwrap();
    assert_eq!(
        response,
        SocpMessage::Response {
            request_op_code: 2,
            code: 1
        }
    );
    assert_eq!(crc, CrcCheck::Mcrf4xx);
    assert!(matches!(
        cgm_control::decode_socp(&hex("1C 02 01 3C 3C"), true),
        Err(DecodeError::BadCrc { .. })
    ));
}

#[test]
fn weight_and_device_information() {
    use device_adapters::gatt::{device_information, weight};
    // Derived from WSS §3.2: SI, time stamp, user 2, BMI 22.5 and height 1.750 m;
    // weight 13800 × 0.005 = 69.0 kg.
    let m = weight::decode(&hex("0E e8 35 E8 07 05 01 07 1E 00 02 E1 00 D6 06")).unwrap();
    assert!((m.kg().unwrap() - 69.0).abs() < 1e-9);
    assert_eq!(m.user_id, Some(2));
    assert!((m.bmi().unwrap() - 22.5).abs() < 1e-9);
    assert!((m.height_m().unwrap() - 1.75).abs() < 1e-9);
    assert_eq!(
        weight::decode(&hex("00 FF FF")).unwrap().kg(),
        None,
        "0xFFFF: measurement unsuccessful"
    );
    assert_eq!(
        device_information::decode_string(b"Contour Next One\0\0").unwrap(),
        "Contour Next One"
    );
    assert!(matches!(
        device_information::decode_string(&[0x41, 0xFF]),
        Err(DecodeError::Reserved { offset: 1, .. })
    ));
}

#[test]
fn glucose_context() {
    use device_adapters::gatt::glucose_context;
    // Derived from GSS §3.105: sequence 1, carbohydrate 1 (breakfast) 0.05 kg, meal 1
    // (preprandial), tester self / health no issues (0xF1), HbA1c 7.1 %.
    let c = glucose_context::decode_context(&hex("47 01 00 01 05 E0 01 F1 47 F0")).unwrap();
    assert_eq!(c.sequence_number, 1);
    let (id, carbs) = c.carbohydrate.unwrap();
    assert_eq!(id, 1);
    assert!((carbs.to_f64().unwrap() - 0.05).abs() < 1e-12);
    assert_eq!(c.meal, Some(1));
    assert_eq!(c.tester_health, Some((1, 15)));
    assert!((c.hba1c_percent.unwrap().to_f64().unwrap() - 7.1).abs() < 1e-12);
    assert!(matches!(
        glucose_context::decode_context(&hex("02 01 00 09")),
        Err(DecodeError::Reserved { field: "meal", .. })
    ));
}
