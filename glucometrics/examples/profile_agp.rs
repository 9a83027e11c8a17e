//! Development aid: the AGP alone, repeated, for profilers.
fn main() {
    let readings = glucometrics::synthetic::SyntheticTrace::default().generate();
    let series =
        glucometrics::GlucoseSeries::new(&readings, chrono_tz::Europe::Rome, &Default::default())
            .unwrap();
    for _ in 0..200 {
        std::hint::black_box(glucometrics::agp::agp_profile(&series, &Default::default()));
    }
}
