//! CGM Measurement notifications: decoding arbitrary bytes never panics, and every
//! record that decodes re-encodes to a value that decodes to the same record.
#![no_main]

use device_adapters::gatt::cgm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for record in cgm::decode_notification(data).into_iter().flatten() {
        let mut bytes = Vec::new();
        cgm::encode_record(&record, &mut bytes);
        let again = cgm::decode_notification(&bytes);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].as_ref().ok(), Some(&record));
    }
});
