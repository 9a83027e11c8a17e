//! Development aid: import a synthetic 90-day LibreView export repeatedly (for profilers).
fn main() {
    let mut text = String::from("Device,Serial Number,Device Timestamp,Record Type,Historic Glucose mg/dL,Scan Glucose mg/dL,Non-numeric Rapid-Acting Insulin,Rapid-Acting Insulin (units),Non-numeric Food,Carbohydrates (grams),Carbohydrates (servings),Non-numeric Long-Acting Insulin,Long-Acting Insulin (units),Notes,Strip Glucose mg/dL,Ketone mmol/L,Meal Insulin (units),Correction Insulin (units),User Change Insulin (units)\n");
    let start = chrono::NaiveDate::from_ymd_opt(2021, 1, 4)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for i in 0..(90 * 96) {
        let t = start + chrono::Duration::minutes(15 * i);
        text.push_str(&format!(
            "FreeStyle Libre 2,ABC123,{},0,{},,,,,,,,,,,,,,\n",
            t.format("%m-%d-%Y %I:%M %p"),
            90 + i % 120
        ));
    }
    for _ in 0..10 {
        std::hint::black_box(
            device_adapters::import::libreview::import(&text, chrono_tz::Europe::Rome, None)
                .unwrap(),
        );
    }
}
