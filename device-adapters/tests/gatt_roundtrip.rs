//! `decode(encode(x)) == x` for every codec, over generated values (proptest), and no
//! decoder panics on arbitrary bytes.

use device_adapters::gatt::cgm::{self, CgmMeasurement, CrcCheck, SessionStartTime};
use device_adapters::gatt::glucose::{
    self, Concentration, ConcentrationUnit, GlucoseMeasurement, SampleLocation, SampleType,
};
use device_adapters::gatt::heart_rate::{self, HeartRateMeasurement, SensorContact};
use device_adapters::gatt::ieee11073::{Medfloat, SFloat};
use device_adapters::gatt::racp::{self, RacpMessage, RecordFilter, ResponseCode};
use device_adapters::gatt::{blood_pressure, crc, current_time, DateTime};
use proptest::prelude::*;

fn sfloat() -> impl Strategy<Value = SFloat> {
    prop_oneof![
        (-2045_i32..=2045, -8_i8..=7)
            .prop_map(|(mantissa, exponent)| SFloat(Medfloat::Value { mantissa, exponent })),
        Just(SFloat(Medfloat::NaN)),
        Just(SFloat(Medfloat::NotAtThisResolution)),
        Just(SFloat(Medfloat::PositiveInfinity)),
        Just(SFloat(Medfloat::NegativeInfinity)),
        Just(SFloat(Medfloat::Reserved)),
    ]
}

fn date_time() -> impl Strategy<Value = DateTime> {
    (
        prop_oneof![Just(0_u16), 1582_u16..=9999],
        0_u8..=12,
        0_u8..=31,
        0_u8..=23,
        0_u8..=59,
        0_u8..=59,
    )
        .prop_map(|(year, month, day, hours, minutes, seconds)| DateTime {
            year,
            month,
            day,
            hours,
            minutes,
            seconds,
        })
}

/// The CRC a decoder reports for `bytes` that end in a value's CRC written as `written`:
/// the specification's MCRF4XX is checked first, so where the CCITT-FALSE CRC of the
/// covered bytes happens to equal their MCRF4XX CRC (1 value in 65,536) the bytes are
/// the same either way and decode as MCRF4XX.
fn crc_as_decoded(written: CrcCheck, bytes: &[u8]) -> CrcCheck {
    let Some((covered, found)) = bytes.split_last_chunk::<2>() else {
        return written;
    };
    if written == CrcCheck::CcittFalse && crc::crc16_mcrf4xx(covered) == u16::from_le_bytes(*found)
    {
        CrcCheck::Mcrf4xx
    } else {
        written
    }
}

fn crc() -> impl Strategy<Value = CrcCheck> {
    prop_oneof![
        Just(CrcCheck::Absent),
        Just(CrcCheck::Mcrf4xx),
        Just(CrcCheck::CcittFalse)
    ]
}

fn cgm_measurement() -> impl Strategy<Value = CgmMeasurement> {
    (
        sfloat(),
        any::<u16>(),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u8>()),
        proptest::option::of(sfloat()),
        proptest::option::of(sfloat()),
        crc(),
    )
        .prop_map(|(g, t, s, c, w, trend, quality, crc)| CgmMeasurement {
            glucose_mg_dl: g,
            time_offset_min: t,
            status: s,
            cal_temp: c,
            warning: w,
            trend_mg_dl_per_min: trend,
            quality_percent: quality,
            crc,
        })
}

fn sample_type() -> impl Strategy<Value = SampleType> {
    use SampleType::*;
    prop::sample::select(vec![
        CapillaryWholeBlood,
        CapillaryPlasma,
        VenousWholeBlood,
        VenousPlasma,
        ArterialWholeBlood,
        ArterialPlasma,
        UndeterminedWholeBlood,
        UndeterminedPlasma,
        InterstitialFluid,
        ControlSolution,
    ])
}

fn location() -> impl Strategy<Value = SampleLocation> {
    use SampleLocation::*;
    prop::sample::select(vec![
        Finger,
        AlternateSite,
        Earlobe,
        ControlSolution,
        Subcutaneous,
        NotAvailable,
    ])
}

fn filter() -> impl Strategy<Value = RecordFilter> {
    prop_oneof![
        Just(RecordFilter::All),
        Just(RecordFilter::First),
        Just(RecordFilter::Last),
        any::<u16>().prop_map(RecordFilter::SequenceAtMost),
        any::<u16>().prop_map(RecordFilter::SequenceAtLeast),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| RecordFilter::SequenceRange(a, b)),
        date_time().prop_map(RecordFilter::TimeAtMost),
        date_time().prop_map(RecordFilter::TimeAtLeast),
        (date_time(), date_time()).prop_map(|(a, b)| RecordFilter::TimeRange(a, b)),
    ]
}

proptest! {
    #[test]
    fn cgm_notifications_round_trip(records in prop::collection::vec(cgm_measurement(), 1..5)) {
        let (mut bytes, mut expected) = (Vec::new(), Vec::new());
        for record in &records {
            let mut one = Vec::new();
            cgm::encode_record(record, &mut one);
            expected.push(CgmMeasurement { crc: crc_as_decoded(record.crc, &one), ..*record });
            bytes.extend_from_slice(&one);
        }
        let decoded: Vec<CgmMeasurement> = cgm::decode_notification(&bytes).into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn session_times_round_trip(start in date_time(), zone in proptest::option::of(-48_i8..=56), dst in proptest::option::of(prop::sample::select(vec![0_u8, 2, 4, 8])), crc in crc(), hours in any::<u16>()) {
        let value = SessionStartTime { start, time_zone_quarter_hours: zone, dst_quarter_hours: dst, crc };
        let mut bytes = Vec::new();
        cgm::encode_session_start_time(&value, &mut bytes);
        let expected = SessionStartTime { crc: crc_as_decoded(crc, &bytes), ..value };
        prop_assert_eq!(cgm::decode_session_start_time(&bytes).unwrap(), expected);
        let mut bytes = Vec::new();
        cgm::encode_session_run_time(hours, crc, &mut bytes);
        prop_assert_eq!(cgm::decode_session_run_time(&bytes).unwrap(), (hours, crc_as_decoded(crc, &bytes)));
    }

    #[test]
    fn glucose_round_trips(
        sequence_number in any::<u16>(), base_time in date_time(), time_offset_min in proptest::option::of(any::<i16>()),
        concentration in proptest::option::of((sfloat(), any::<bool>(), sample_type(), location())),
        status in proptest::option::of(any::<u16>()), context_follows in any::<bool>(),
    ) {
        let value = GlucoseMeasurement {
            sequence_number, base_time, time_offset_min,
            concentration: concentration.map(|(value, mol, sample_type, location)| Concentration {
                value, unit: if mol { ConcentrationUnit::MolPerL } else { ConcentrationUnit::KgPerL }, sample_type, location,
            }),
            status, context_follows,
        };
        let mut bytes = Vec::new();
        glucose::encode(&value, &mut bytes);
        prop_assert_eq!(glucose::decode(&bytes).unwrap(), value);
    }

    #[test]
    fn racp_round_trips(message in prop_oneof![
        filter().prop_map(RacpMessage::ReportStoredRecords),
        filter().prop_map(RacpMessage::DeleteStoredRecords),
        filter().prop_map(RacpMessage::ReportNumberOfRecords),
        Just(RacpMessage::Abort),
        any::<u16>().prop_map(RacpMessage::NumberOfRecords),
        (1_u8..=4, prop::sample::select(vec![ResponseCode::Success, ResponseCode::NoRecordsFound, ResponseCode::OperandNotSupported]))
            .prop_map(|(request_op_code, code)| RacpMessage::Response { request_op_code, code }),
    ]) {
        let mut bytes = Vec::new();
        racp::encode(&message, &mut bytes);
        prop_assert_eq!(racp::decode(&bytes).unwrap(), message);
    }

    #[test]
    fn heart_rate_round_trips(bpm in any::<u16>(), wide in any::<bool>(), contact in prop::sample::select(vec![SensorContact::NotSupported, SensorContact::NotDetected, SensorContact::Detected]), energy_kj in proptest::option::of(any::<u16>()), rr in prop::collection::vec(any::<u16>(), 0..8)) {
        let value = HeartRateMeasurement { bpm, wide: wide || bpm > 255, contact, energy_kj, rr_intervals_1024ths: rr };
        let mut bytes = Vec::new();
        heart_rate::encode(&value, &mut bytes);
        prop_assert_eq!(heart_rate::decode(&bytes).unwrap(), value);
    }

    #[test]
    fn blood_pressure_round_trips(kpa in any::<bool>(), s in sfloat(), d in sfloat(), m in sfloat(), t in proptest::option::of(date_time()), p in proptest::option::of(sfloat()), u in proptest::option::of(any::<u8>()), status in proptest::option::of(any::<u16>())) {
        let value = blood_pressure::BloodPressureMeasurement {
            unit: if kpa { blood_pressure::PressureUnit::KPa } else { blood_pressure::PressureUnit::MmHg },
            systolic: s, diastolic: d, mean_arterial: m, time_stamp: t, pulse_bpm: p, user_id: u, status,
        };
        let mut bytes = Vec::new();
        blood_pressure::encode(&value, &mut bytes);
        prop_assert_eq!(blood_pressure::decode(&bytes, true).unwrap(), value);
    }

    #[test]
    fn current_time_round_trips(date_time in date_time(), day_of_week in 0_u8..=7, fractions_256 in any::<u8>(), adjust_reason in 0_u8..16) {
        let value = current_time::CurrentTime { date_time, day_of_week, fractions_256, adjust_reason };
        let mut bytes = Vec::new();
        current_time::encode(&value, &mut bytes);
        prop_assert_eq!(current_time::decode(&bytes).unwrap(), value);
    }

    #[test]
    fn cgm_control_round_trips(features in 0_u32..(1 << 24), t in 0_u8..16, l in 0_u8..16, crc_supported in any::<bool>(), offset in any::<u16>(), octets in any::<[u8; 3]>(), status_crc in crc(), interval in any::<u8>(), level in sfloat()) {
        use device_adapters::gatt::cgm_control::{self, AlertLevel, CgmFeature, CgmStatus, SocpMessage};
        let features = if crc_supported { features | cgm_control::FEATURE_E2E_CRC } else { features & !cgm_control::FEATURE_E2E_CRC };
        let feature = CgmFeature { features, sample_type: t, sample_location: l, crc: if crc_supported { CrcCheck::Mcrf4xx } else { CrcCheck::Absent } };
        let mut bytes = Vec::new();
        cgm_control::encode_feature(&feature, &mut bytes);
        prop_assert_eq!(cgm_control::decode_feature(&bytes).unwrap(), feature);
        let status = CgmStatus { time_offset_min: offset, status: octets[0], cal_temp: octets[1], warning: octets[2], crc: status_crc };
        let mut bytes = Vec::new();
        cgm_control::encode_status(&status, &mut bytes);
        let expected = CgmStatus { crc: crc_as_decoded(status_crc, &bytes), ..status };
        prop_assert_eq!(cgm_control::decode_status(&bytes).unwrap(), expected);
        for message in [
            SocpMessage::SetCommunicationInterval(interval),
            SocpMessage::GetCommunicationInterval,
            SocpMessage::SetAlert(AlertLevel::Hyper, level),
            SocpMessage::Alert(AlertLevel::RateOfIncrease, level),
            SocpMessage::GetAlert(AlertLevel::PatientLow),
            SocpMessage::StartSession,
            SocpMessage::Response { request_op_code: 26, code: 1 },
        ] {
            for crc in [CrcCheck::Absent, CrcCheck::Mcrf4xx] {
                let mut bytes = Vec::new();
                cgm_control::encode_socp(&message, crc, &mut bytes);
                prop_assert_eq!(cgm_control::decode_socp(&bytes, crc != CrcCheck::Absent).unwrap(), (message.clone(), crc));
            }
        }
    }

    #[test]
    fn weight_and_context_round_trip(imperial in any::<bool>(), weight in proptest::option::of(0_u16..0xFFFF), t in proptest::option::of(date_time()), user in proptest::option::of(any::<u8>()), bmi in proptest::option::of(any::<(u16, u16)>()), sequence in any::<u16>(), meal in proptest::option::of(1_u8..=5), hba1c in proptest::option::of(sfloat()), medication in proptest::option::of((1_u8..=5, sfloat(), any::<bool>())), exercise in proptest::option::of((any::<u16>(), 0_u8..=100))) {
        use device_adapters::gatt::glucose_context::{self, GlucoseContext};
        use device_adapters::gatt::weight::{self, WeightMeasurement};
        let value = WeightMeasurement { imperial, weight_raw: weight, time_stamp: t, user_id: user, bmi_height_raw: bmi };
        let mut bytes = Vec::new();
        weight::encode(&value, &mut bytes);
        prop_assert_eq!(weight::decode(&bytes).unwrap(), value);
        let context = GlucoseContext { sequence_number: sequence, extended_flags: None, carbohydrate: None, meal, tester_health: Some((1, 15)), exercise, medication, hba1c_percent: hba1c };
        let mut bytes = Vec::new();
        glucose_context::encode_context(&context, &mut bytes);
        prop_assert_eq!(glucose_context::decode_context(&bytes).unwrap(), context);
    }

    #[test]
    fn no_decoder_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = cgm::decode_notification(&bytes);
        let _ = cgm::decode_session_start_time(&bytes);
        let _ = cgm::decode_session_run_time(&bytes);
        let _ = glucose::decode(&bytes);
        let _ = racp::decode(&bytes);
        let _ = heart_rate::decode(&bytes);
        let _ = blood_pressure::decode(&bytes, false);
        let _ = current_time::decode(&bytes);
        let _ = device_adapters::gatt::cgm_control::decode_feature(&bytes);
        let _ = device_adapters::gatt::cgm_control::decode_status(&bytes);
        let _ = device_adapters::gatt::cgm_control::decode_socp(&bytes, true);
        let _ = device_adapters::gatt::cgm_control::decode_socp(&bytes, false);
        let _ = device_adapters::gatt::weight::decode(&bytes);
        let _ = device_adapters::gatt::glucose_context::decode_context(&bytes);
        let _ = device_adapters::gatt::glucose_context::decode_feature(&bytes);
        let _ = device_adapters::gatt::device_information::decode_string(&bytes);
    }
}
