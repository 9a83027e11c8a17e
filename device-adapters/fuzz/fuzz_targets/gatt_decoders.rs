//! Every GATT decoder on arbitrary bytes: no panic, and `decode(encode(x)) == x` for
//! whatever decodes. The first byte picks the decoder.
#![no_main]

use device_adapters::gatt::{blood_pressure, cgm, current_time, glucose, heart_rate, racp};
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
    match selector % 7 {
        0 => round_trip!(glucose::decode, glucose::encode, bytes),
        1 => round_trip!(racp::decode, racp::encode, bytes),
        2 => round_trip!(heart_rate::decode, heart_rate::encode, bytes),
        3 => round_trip!(|b| blood_pressure::decode(b, false), blood_pressure::encode, bytes),
        4 => round_trip!(current_time::decode, current_time::encode, bytes),
        5 => round_trip!(cgm::decode_session_start_time, cgm::encode_session_start_time, bytes),
        _ => {
            if let Ok((hours, crc)) = cgm::decode_session_run_time(bytes) {
                let mut out = Vec::new();
                cgm::encode_session_run_time(hours, crc, &mut out);
                assert_eq!(cgm::decode_session_run_time(&out), Ok((hours, crc)));
            }
        }
    }
});
