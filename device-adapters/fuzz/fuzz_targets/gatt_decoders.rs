//! Every GATT decoder on arbitrary bytes: no panic, and `decode(encode(x)) == x` for
//! whatever decodes. The first byte picks the decoder.
#![no_main]

use device_adapters::gatt::{
    blood_pressure, cgm, cgm_control, current_time, device_information, glucose, glucose_context, heart_rate, racp, weight,
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
    match selector % 12 {
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
        _ => {
            if let Ok((hours, crc)) = cgm::decode_session_run_time(bytes) {
                let mut out = Vec::new();
                cgm::encode_session_run_time(hours, crc, &mut out);
                assert_eq!(cgm::decode_session_run_time(&out), Ok((hours, crc)));
            }
        }
    }
});
