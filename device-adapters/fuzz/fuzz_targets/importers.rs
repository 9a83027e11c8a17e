//! Every importer on arbitrary text: no panic, and the counts always add up (each row
//! read is imported, a duplicate, rejected or ignored).
#![no_main]

use device_adapters::import::{apple_health, dexcom, generic_csv, libreview, nightscout, open_mhealth, ImportCounts};
use libfuzzer_sys::fuzz_target;

fn check(counts: ImportCounts) {
    assert_eq!(counts.read, counts.imported + counts.duplicate + counts.rejected + counts.ignored);
}

fuzz_target!(|data: &[u8]| {
    // Theengs Gateway messages: any bytes on a Theengs topic, any text as a topic.
    if let Ok(message) = device_adapters::theengs::decode("home/g/BTtoMQTT/AABBCCDDEEFF", data) {
        assert!(!message.observations.is_empty());
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = device_adapters::theengs::decode(text, b"{\"steps\":1}");
    let zone = chrono_tz::Europe::Rome;
    if let Ok(report) = libreview::import(text, zone, None) {
        check(report.counts);
    }
    if let Ok(report) = dexcom::import(text, zone, None) {
        check(report.counts);
    }
    if let Ok(report) = nightscout::import(text, None) {
        check(report.counts);
    }
    if let Ok(report) = open_mhealth::import(text, None) {
        check(report.counts);
    }
    let mut streamed = 0;
    if let Ok(report) = apple_health::import(text.as_bytes(), None, |_| streamed += 1) {
        check(report.counts);
        assert_eq!(report.counts.imported, streamed);
    }
    let options = generic_csv::GenericCsvOptions { zone, unit: Default::default() };
    if let Ok(report) = generic_csv::import(text, &options) {
        check(report.counts);
    }
});
