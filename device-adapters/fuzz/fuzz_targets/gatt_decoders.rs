//! Every GATT decoder on arbitrary bytes: no panic, and `decode(encode(x)) == x` for
//! whatever decodes. The first byte picks the decoder.
#![no_main]

use device_adapters::gatt::{
    blood_pressure, cgm, cgm_control, current_time, device_information, glucose, glucose_context, heart_rate, pams, racp, weight,
};
use libfuzzer_sys::fuzz_target;

macro_rules! round_trip {
    ($decode:expr, $encode:expr, $bytes:expr) => {
        if let Ok(value) = $decode($bytes) {
            let mut out = Vec::new();
            $encode(&value, &mut out);
            assert_eq!($decode(&out), Ok(value));
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    match selector % 15 {
        0 => round_trip!(glucose::decode, glucose::encode, bytes),
        1 => round_trip!(racp::decode, racp::encode, bytes),
        2 => round_trip!(heart_rate::decode, heart_rate::encode, bytes),
        3 => round_trip!(|b| blood_pressure::decode(b, false), blood_pressure::encode, bytes),
        4 => round_trip!(current_time::decode, current_time::encode, bytes),
        5 => round_trip!(cgm::decode_session_start_time, cgm::encode_session_start_time, bytes),
        7 => round_trip!(cgm_control::decode_feature, cgm_control::encode_feature, bytes),
        8 => round_trip!(cgm_control::decode_status, cgm_control::encode_status, bytes),
        9 => {
            for with_crc in [false, true] {
                if let Ok((message, crc)) = cgm_control::decode_socp(bytes, with_crc) {
                    let mut out = Vec::new();
                    cgm_control::encode_socp(&message, crc, &mut out);
                    assert_eq!(cgm_control::decode_socp(&out, with_crc), Ok((message, crc)));
                }
            }
        }
        10 => round_trip!(weight::decode, weight::encode, bytes),
        11 => {
            round_trip!(glucose_context::decode_context, glucose_context::encode_context, bytes);
            let _ = glucose_context::decode_feature(bytes);
            let _ = device_information::decode_string(bytes);
        }
        12 => {
            round_trip!(pams::decode_step_counter_summary, pams::encode_step_counter_summary, bytes);
            round_trip!(pams::decode_current_session, pams::encode_current_session, bytes);
        }
        13 => round_trip!(pams::decode_sleep_summary, pams::encode_sleep_summary, bytes),
        14 => {
            // Segments of up to 20 octets: reassembly never panics, and a value it
            // completes is made of the segments' payloads.
            let mut reassembler =
                pams::Reassembler::new(device_adapters::gatt::Characteristic::SleepActivitySummary);
            for segment in bytes.chunks(20) {
                let pushed = reassembler.push(segment);
                if let Some(value) = pushed.value {
                    assert!(value.len() < bytes.len());
                }
            }
        }
        _ => {
            if let Ok((hours, crc)) = cgm::decode_session_run_time(bytes) {
                let mut out = Vec::new();
                cgm::encode_session_run_time(hours, crc, &mut out);
                assert_eq!(cgm::decode_session_run_time(&out), Ok((hours, crc)));
            }
        }
    }
});
