//! Physical Activity Monitor Service 1.0 (PAMS, Bluetooth SIG 2020-12-15; characteristic
//! layouts in the GATT Specification Supplement): the step counter and sleep summaries
//! a band sends, the segmentation they travel in, and the current session that anchors
//! their times.
//!
//! ```text
//! every PAMS data value travels in segments; each segment starts with a header octet:
//!   bit 0 first segment, bit 1 last segment, bits 2-7 rolling segment counter (mod 64)
//! the reassembled value (Step Counter Activity Summary Data 0x2B40):
//!   flags u8 | session id u16 | sub-session id u16 | relative timestamp u32 |
//!   sequence number u32 | [normal walking steps u24] [intensity steps u24]
//!   [floor steps u24] [distance u24, m] [worn duration u24, s]
//!   flags: bits 0-4 say which optional field is present, bits 5-7 reserved
//! Sleep Activity Summary Data 0x2B42:
//!   flags u24 | session id u16 | sub-session id u16 | relative timestamp u32 |
//!   sequence number u32 | then, in flag order (bits 0-19; 20-23 reserved):
//!   total sleep time u24 s, total wake time u24 s, total bed time u24 s,
//!   number of awakenings u16, sleep latency u24 s, sleep efficiency u8 %,
//!   snooze time u24 s, toss-and-turn events u16, awakening after alarm u24 s,
//!   visible light min/max/avg u24 ×3, UV light min/max/avg u24 ×3,
//!   IR light min/max/avg u24 ×3, average sleeping heart rate u8 /min,
//!   worn duration u24 s
//! Activity Current Session 0x2B44 (read):
//!   session id u16 | sub-session id u16 | relative timestamp u32 (now, s)
//! relative timestamps are seconds since the start of the session (its time base);
//! an all-ones field (0xFFFFFF, 0xFFFF, 0xFF) means "value not known"
//! ```
//!
//! **Provenance.** `../shared/reference/gatt-vectors.md` found no trusted byte vectors
//! for PAMS, and the public implementations disagree: the `bluetooth_sig` Python
//! package parses the summaries from the flags on (no segment header, no session
//! fields), while a PSoC example keeps the header, the session, sub-session, relative
//! timestamp and sequence number fields and the 24-bit step fields. PAMS 1.0 requires
//! the header on every segment of its data characteristics (the values are longer
//! than a default ATT payload of 20 octets) and identifies records by session and
//! sequence number, so the layout above is the specification's as this project reads
//! it, and the PSoC example agrees with its step part. The field order of the sleep
//! summary follows the flag table the Python package cites (PAMS Table 3.20). The
//! widths and units of the sleep fields are this project's reading of the
//! specification and are checked only against themselves: the tables here
//! ([`STEP_FIELDS`], [`SLEEP_FIELDS`]) are the one place to correct if a device shows
//! otherwise.

use serde::{Deserialize, Serialize};

use super::{Characteristic, DecodeError, Reader};

/// Physical Activity Monitor Service.
pub const SERVICE_UUID: u16 = 0x183E;
/// Step Counter Activity Summary Data.
pub const STEP_COUNTER_SUMMARY_UUID: u16 = 0x2B40;
/// Sleep Activity Summary Data.
pub const SLEEP_SUMMARY_UUID: u16 = 0x2B42;
/// Activity Current Session.
pub const CURRENT_SESSION_UUID: u16 = 0x2B44;

/// The largest segment a default ATT MTU (23) carries in a notification: 20 octets,
/// header included.
pub const DEFAULT_SEGMENT_LEN: usize = 20;

/// A segment's header octet (PAMS §3 "Segmentation").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The first segment of a value.
    pub first: bool,
    /// The last segment of a value (a value in one segment is first and last).
    pub last: bool,
    /// Rolling counter, 0–63, one more (mod 64) than the previous segment's.
    pub counter: u8,
}

impl SegmentHeader {
    /// From the header octet.
    #[must_use]
    pub fn from_octet(octet: u8) -> Self {
        Self {
            first: octet & 1 != 0,
            last: octet & 2 != 0,
            counter: octet >> 2,
        }
    }

    /// The header octet.
    #[must_use]
    pub fn octet(self) -> u8 {
        u8::from(self.first) | (u8::from(self.last) << 1) | ((self.counter & 0x3F) << 2)
    }
}

/// Splits `value` into segments of at most `segment_len` octets (header included,
/// `segment_len` ≥ 2), counting from `counter`; returns the counter for the next value.
pub fn segment(value: &[u8], segment_len: usize, counter: u8, out: &mut Vec<Vec<u8>>) -> u8 {
    let chunk = segment_len.max(2) - 1;
    let pieces: Vec<&[u8]> = if value.is_empty() {
        vec![&[]]
    } else {
        value.chunks(chunk).collect()
    };
    let mut counter = counter & 0x3F;
    let last_index = pieces.len() - 1;
    for (index, piece) in pieces.into_iter().enumerate() {
        let header = SegmentHeader {
            first: index == 0,
            last: index == last_index,
            counter,
        };
        let mut bytes = Vec::with_capacity(piece.len() + 1);
        bytes.push(header.octet());
        bytes.extend_from_slice(piece);
        out.push(bytes);
        counter = (counter + 1) & 0x3F;
    }
    counter
}

/// What one segment brought: the value it completed, and the fault it revealed (a value
/// abandoned or a segment refused). Both can happen at once: a first segment that
/// arrives while a value is open abandons that value and starts its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    /// The whole value, when this segment completed one.
    pub value: Option<Vec<u8>>,
    /// What went wrong, if anything.
    pub fault: Option<DecodeError>,
}

/// Reassembles the segments of one characteristic's values. A segment out of order (a
/// counter that does not follow, a middle segment without a first, a first while a value
/// is open) is reported and drops the value being assembled, never glues two values.
#[derive(Debug, Clone)]
pub struct Reassembler {
    characteristic: Characteristic,
    buffer: Vec<u8>,
    open: bool,
    next_counter: u8,
}

impl Reassembler {
    /// A reassembler for `characteristic`'s values.
    #[must_use]
    pub fn new(characteristic: Characteristic) -> Self {
        Self {
            characteristic,
            buffer: Vec::new(),
            open: false,
            next_counter: 0,
        }
    }

    /// Takes one segment. Faults: [`DecodeError::Truncated`] for an empty segment;
    /// [`DecodeError::Reserved`] with field `segment header` (a middle or last segment
    /// with no value open, or a first one abandoning an open value) or `segment
    /// counter` (a counter that does not follow).
    pub fn push(&mut self, segment: &[u8]) -> Pushed {
        let mut r = Reader::new(self.characteristic, segment);
        let header = match r.u8("segment header") {
            Ok(octet) => SegmentHeader::from_octet(octet),
            Err(fault) => {
                return Pushed {
                    value: None,
                    fault: Some(fault),
                }
            }
        };
        let fault = |field| DecodeError::Reserved {
            characteristic: self.characteristic,
            field,
            offset: 0,
            value: u32::from(header.octet()),
        };
        let mut pushed = Pushed::default();
        if header.first {
            if self.open {
                pushed.fault = Some(fault("segment header"));
            }
            self.buffer.clear();
        } else if !self.open {
            pushed.fault = Some(fault("segment header"));
            return pushed;
        } else if header.counter != self.next_counter {
            pushed.fault = Some(fault("segment counter"));
            self.reset();
            return pushed;
        }
        self.buffer.extend_from_slice(&segment[1..]);
        self.open = true;
        self.next_counter = (header.counter + 1) & 0x3F;
        if header.last {
            self.open = false;
            pushed.value = Some(std::mem::take(&mut self.buffer));
        }
        pushed
    }

    /// Forgets a value being assembled (the link dropped).
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.open = false;
    }
}

/// The fields every PAMS data record starts with after its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordHeader {
    /// The session the record belongs to.
    pub session_id: u16,
    /// The sub-session within it.
    pub sub_session_id: u16,
    /// Seconds since the session's start.
    pub relative_timestamp_s: u32,
    /// The record's sequence number (the device's record identity).
    pub sequence_number: u32,
}

/// One optional field of a summary: its name and its width in octets (1, 2 or 3,
/// unsigned little-endian). Presence is the flag bit at the field's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Field name, as in the specification.
    pub name: &'static str,
    /// Width, octets.
    pub width: usize,
}

const fn field(name: &'static str, width: usize) -> FieldSpec {
    FieldSpec { name, width }
}

/// The optional fields of Step Counter Activity Summary Data, in flag-bit order.
pub const STEP_FIELDS: [FieldSpec; 5] = [
    field("normal walking steps", 3),
    field("intensity steps", 3),
    field("floor steps", 3),
    field("distance", 3),
    field("worn duration", 3),
];

/// The optional fields of Sleep Activity Summary Data, in flag-bit order.
pub const SLEEP_FIELDS: [FieldSpec; 20] = [
    field("total sleep time", 3),
    field("total wake time", 3),
    field("total bed time", 3),
    field("number of awakenings", 2),
    field("sleep latency", 3),
    field("sleep efficiency", 1),
    field("snooze time", 3),
    field("number of toss and turn events", 2),
    field("time of awakening after alarm", 3),
    field("visible light level minimum", 3),
    field("visible light level maximum", 3),
    field("visible light level average", 3),
    field("UV light level minimum", 3),
    field("UV light level maximum", 3),
    field("UV light level average", 3),
    field("IR light level minimum", 3),
    field("IR light level maximum", 3),
    field("IR light level average", 3),
    field("average sleeping heart rate", 1),
    field("worn duration", 3),
];

/// A summary value: its record header and its optional fields, each `None` when its
/// flag is clear. A field may hold its width's all-ones "not known" value
/// ([`not_known`]); decoding keeps it, conversion refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Summary<const N: usize> {
    /// Session, sub-session, time and sequence number.
    pub record: RecordHeader,
    /// The optional fields in flag order (see [`STEP_FIELDS`], [`SLEEP_FIELDS`]).
    #[serde(with = "serde_fields")]
    pub fields: [Option<u32>; N],
}

/// Step Counter Activity Summary Data (0x2B40).
pub type StepCounterSummary = Summary<5>;
/// Sleep Activity Summary Data (0x2B42).
pub type SleepSummary = Summary<20>;

/// The "value not known" code of a field `width` octets wide (all ones).
#[must_use]
pub fn not_known(width: usize) -> u32 {
    if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width)) - 1
    }
}

impl StepCounterSummary {
    /// Index of normal walking steps in [`Self::fields`].
    pub const NORMAL_WALKING_STEPS: usize = 0;
    /// Index of intensity steps.
    pub const INTENSITY_STEPS: usize = 1;
    /// Index of floor steps.
    pub const FLOOR_STEPS: usize = 2;
    /// Index of distance, m.
    pub const DISTANCE_M: usize = 3;
    /// Index of worn duration, s.
    pub const WORN_DURATION_S: usize = 4;
}

impl SleepSummary {
    /// Index of total sleep time, s, in [`Self::fields`].
    pub const TOTAL_SLEEP_TIME_S: usize = 0;
    /// Index of total wake time, s.
    pub const TOTAL_WAKE_TIME_S: usize = 1;
    /// Index of total bed time, s.
    pub const TOTAL_BED_TIME_S: usize = 2;
    /// Index of the number of awakenings.
    pub const AWAKENINGS: usize = 3;
    /// Index of sleep efficiency, %.
    pub const SLEEP_EFFICIENCY_PERCENT: usize = 5;
    /// Index of the average sleeping heart rate, /min.
    pub const AVERAGE_SLEEPING_HEART_RATE: usize = 18;
    /// Index of worn duration, s.
    pub const WORN_DURATION_S: usize = 19;
}

mod serde_fields {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, const N: usize>(
        fields: &[Option<u32>; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        fields.as_slice().serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[Option<u32>; N], D::Error> {
        let fields = Vec::<Option<u32>>::deserialize(deserializer)?;
        let found = fields.len();
        fields.try_into().map_err(|_| {
            serde::de::Error::invalid_length(found, &"one entry per field of the summary")
        })
    }
}

fn uint(r: &mut Reader<'_>, field: &'static str, width: usize) -> Result<u32, DecodeError> {
    let bytes = r.take(field, width)?;
    Ok(bytes
        .iter()
        .rev()
        .fold(0u32, |value, byte| (value << 8) | u32::from(*byte)))
}

fn put_uint(value: u32, width: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&value.to_le_bytes()[..width]);
}

/// Decodes a reassembled summary whose flags are `flag_width` octets and whose optional
/// fields are `specs`.
fn decode_summary<const N: usize>(
    characteristic: Characteristic,
    bytes: &[u8],
    flag_width: usize,
    specs: &[FieldSpec; N],
) -> Result<Summary<N>, DecodeError> {
    let mut r = Reader::new(characteristic, bytes);
    let flags = uint(&mut r, "flags", flag_width)?;
    let reserved = !((1u32 << N) - 1) & not_known(flag_width);
    if flags & reserved != 0 {
        return Err(r.reserved("flags", 0, flags));
    }
    let session_id = r.u16("session id")?;
    let sub_session_id = r.u16("sub-session id")?;
    let relative_timestamp_s = uint(&mut r, "relative timestamp", 4)?;
    let sequence_number = uint(&mut r, "sequence number", 4)?;
    let mut fields = [None; N];
    for (index, spec) in specs.iter().enumerate() {
        if flags & (1 << index) != 0 {
            fields[index] = Some(uint(&mut r, spec.name, spec.width)?);
        }
    }
    r.finish("value")?;
    Ok(Summary {
        record: RecordHeader {
            session_id,
            sub_session_id,
            relative_timestamp_s,
            sequence_number,
        },
        fields,
    })
}

fn encode_summary<const N: usize>(
    value: &Summary<N>,
    flag_width: usize,
    specs: &[FieldSpec; N],
    out: &mut Vec<u8>,
) {
    let flags = value
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_some())
        .fold(0u32, |flags, (index, _)| flags | (1 << index));
    put_uint(flags, flag_width, out);
    let record = value.record;
    out.extend_from_slice(&record.session_id.to_le_bytes());
    out.extend_from_slice(&record.sub_session_id.to_le_bytes());
    out.extend_from_slice(&record.relative_timestamp_s.to_le_bytes());
    out.extend_from_slice(&record.sequence_number.to_le_bytes());
    for (field, spec) in value.fields.iter().zip(specs) {
        if let Some(v) = field {
            put_uint(v & not_known(spec.width), spec.width, out);
        }
    }
}

/// Decodes a reassembled Step Counter Activity Summary Data value (segment headers
/// removed, see [`Reassembler`]).
///
/// # Errors
/// [`DecodeError`] for reserved flag bits, truncated fields or trailing bytes.
pub fn decode_step_counter_summary(bytes: &[u8]) -> Result<StepCounterSummary, DecodeError> {
    decode_summary(
        Characteristic::StepCounterActivitySummary,
        bytes,
        1,
        &STEP_FIELDS,
    )
}

/// Encodes a Step Counter Activity Summary Data value (before segmentation). Field
/// values wider than the field are cut to its width.
pub fn encode_step_counter_summary(value: &StepCounterSummary, out: &mut Vec<u8>) {
    encode_summary(value, 1, &STEP_FIELDS, out);
}

/// Decodes a reassembled Sleep Activity Summary Data value.
///
/// # Errors
/// [`DecodeError`] for reserved flag bits, truncated fields or trailing bytes.
pub fn decode_sleep_summary(bytes: &[u8]) -> Result<SleepSummary, DecodeError> {
    decode_summary(
        Characteristic::SleepActivitySummary,
        bytes,
        3,
        &SLEEP_FIELDS,
    )
}

/// Encodes a Sleep Activity Summary Data value (before segmentation).
pub fn encode_sleep_summary(value: &SleepSummary, out: &mut Vec<u8>) {
    encode_summary(value, 3, &SLEEP_FIELDS, out);
}

/// Activity Current Session (0x2B44): which session is running and where its time base
/// is now. A collector reads it on connecting: `received − relative_timestamp_s` is the
/// session's start on the collector's clock, which times every record of the session
/// without trusting the band's wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CurrentSession {
    /// The running session.
    pub session_id: u16,
    /// The running sub-session.
    pub sub_session_id: u16,
    /// Seconds since the session's start, now.
    pub relative_timestamp_s: u32,
}

/// Decodes an Activity Current Session value.
///
/// # Errors
/// [`DecodeError`] for a truncated value or trailing bytes.
pub fn decode_current_session(bytes: &[u8]) -> Result<CurrentSession, DecodeError> {
    let mut r = Reader::new(Characteristic::ActivityCurrentSession, bytes);
    let value = CurrentSession {
        session_id: r.u16("session id")?,
        sub_session_id: r.u16("sub-session id")?,
        relative_timestamp_s: uint(&mut r, "relative timestamp", 4)?,
    };
    r.finish("value")?;
    Ok(value)
}

/// Encodes an Activity Current Session value.
pub fn encode_current_session(value: &CurrentSession, out: &mut Vec<u8>) {
    out.extend_from_slice(&value.session_id.to_le_bytes());
    out.extend_from_slice(&value.sub_session_id.to_le_bytes());
    out.extend_from_slice(&value.relative_timestamp_s.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatt::parse_hex;
    use proptest::prelude::*;

    fn reassemble(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut r = Reassembler::new(Characteristic::StepCounterActivitySummary);
        let mut whole = None;
        for s in segments {
            let pushed = r.push(s);
            assert_eq!(pushed.fault, None);
            whole = pushed.value;
        }
        whole.unwrap()
    }

    #[test]
    fn a_step_summary_built_from_the_layout_table_decodes_field_by_field() {
        // Session 1, sub-session 3, 3,600 s into the session, record 7: 4,200 normal
        // walking steps, 310 intensity steps, no floor steps, 3,150 m, worn 3,600 s.
        let value =
            parse_hex("1B 0100 0300 100E0000 07000000 681000 360100 4E0C00 100E00").unwrap();
        let summary = decode_step_counter_summary(&value).unwrap();
        assert_eq!(
            summary.record,
            RecordHeader {
                session_id: 1,
                sub_session_id: 3,
                relative_timestamp_s: 3600,
                sequence_number: 7,
            }
        );
        assert_eq!(
            summary.fields,
            [Some(4200), Some(310), None, Some(3150), Some(3600)]
        );
        // 29 octets: two notifications at the default MTU.
        let mut segments = Vec::new();
        let next = segment(&value, DEFAULT_SEGMENT_LEN, 62, &mut segments);
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0][0], 0b1111_1001, "first, counter 62");
        assert_eq!(segments[1][0], 0b1111_1110, "last, counter 63");
        assert_eq!(next, 0, "the counter wraps at 64");
        assert_eq!(reassemble(&segments), value);
    }

    #[test]
    fn a_sleep_summary_decodes_its_24_bit_flags_and_mixed_widths() {
        // Total sleep 7 h 10 min, wake 35 min, bed 7 h 45 min, 3 awakenings,
        // efficiency 92 %, average sleeping heart rate 54 /min.
        let value =
            parse_hex("2F 00 04 0100 0000 20A10000 02000000 C86400 340800 FC6C00 0300 5C 36")
                .unwrap();
        let summary = decode_sleep_summary(&value).unwrap();
        let f = summary.fields;
        assert_eq!(f[SleepSummary::TOTAL_SLEEP_TIME_S], Some(25_800));
        assert_eq!(f[SleepSummary::TOTAL_WAKE_TIME_S], Some(2_100));
        assert_eq!(f[SleepSummary::TOTAL_BED_TIME_S], Some(27_900));
        assert_eq!(f[SleepSummary::AWAKENINGS], Some(3));
        assert_eq!(f[SleepSummary::SLEEP_EFFICIENCY_PERCENT], Some(92));
        assert_eq!(f[SleepSummary::AVERAGE_SLEEPING_HEART_RATE], Some(54));
        assert_eq!(f.iter().filter(|x| x.is_some()).count(), 6);
        assert_eq!(summary.record.relative_timestamp_s, 41_248);
        let mut again = Vec::new();
        encode_sleep_summary(&summary, &mut again);
        assert_eq!(again, value);
    }

    #[test]
    fn bad_values_name_the_field_and_offset() {
        // Reserved flag bit 5 of the step summary.
        let err =
            decode_step_counter_summary(&parse_hex("20 0100 0000 00000000 00000000").unwrap())
                .unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Reserved {
                field: "flags",
                offset: 0,
                ..
            }
        ));
        // Distance announced, two of its three octets sent.
        let err =
            decode_step_counter_summary(&parse_hex("08 0100 0000 00000000 00000000 4E0C").unwrap())
                .unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Truncated {
                field: "distance",
                offset: 13,
                need: 3,
                got: 2,
                ..
            }
        ));
        // A trailing byte.
        let err = decode_current_session(&parse_hex("0100 0000 10000000 FF").unwrap()).unwrap_err();
        assert!(matches!(err, DecodeError::BadLength { .. }));
    }

    #[test]
    fn segments_out_of_order_are_refused_and_never_glued() {
        let value: Vec<u8> = (0..50).collect();
        let mut segments = Vec::new();
        segment(&value, DEFAULT_SEGMENT_LEN, 5, &mut segments);
        assert_eq!(segments.len(), 3);
        let mut r = Reassembler::new(Characteristic::SleepActivitySummary);
        let fault = |pushed: Pushed| {
            pushed.fault.map(|f| match f {
                DecodeError::Reserved { field, .. } | DecodeError::Truncated { field, .. } => field,
                other => panic!("unexpected {other:?}"),
            })
        };
        // A middle segment first: refused.
        assert_eq!(fault(r.push(&segments[1])), Some("segment header"));
        // First, then the last without the middle: the counter gap is refused.
        assert_eq!(r.push(&segments[0]), Pushed::default());
        assert_eq!(fault(r.push(&segments[2])), Some("segment counter"));
        // A first segment while a value is open abandons it (reported) and starts anew.
        assert_eq!(r.push(&segments[0]), Pushed::default());
        assert_eq!(fault(r.push(&segments[0])), Some("segment header"));
        assert_eq!(r.push(&segments[1]), Pushed::default());
        assert_eq!(r.push(&segments[2]).value, Some(value.clone()));
        // A one-segment value arriving over an open value is still delivered.
        assert_eq!(r.push(&segments[0]), Pushed::default());
        let mut single = Vec::new();
        segment(&[9, 9], DEFAULT_SEGMENT_LEN, 0, &mut single);
        let pushed = r.push(&single[0]);
        assert_eq!(pushed.value, Some(vec![9, 9]));
        assert!(pushed.fault.is_some());
        // An empty notification is truncated, not a panic.
        assert_eq!(fault(r.push(&[])), Some("segment header"));
    }

    fn fields<const N: usize>(
        specs: &'static [FieldSpec; N],
    ) -> impl Strategy<Value = [Option<u32>; N]> {
        proptest::collection::vec(proptest::option::of(any::<u32>()), N).prop_map(move |v| {
            let mut out = [None; N];
            for (i, (x, spec)) in v.into_iter().zip(specs).enumerate() {
                out[i] = x.map(|x| x & not_known(spec.width));
            }
            out
        })
    }

    fn record() -> impl Strategy<Value = RecordHeader> {
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c, d)| {
            RecordHeader {
                session_id: a,
                sub_session_id: b,
                relative_timestamp_s: c,
                sequence_number: d,
            }
        })
    }

    proptest! {
        #[test]
        fn step_summaries_round_trip_through_segments(
            record in record(), fields in fields(&STEP_FIELDS), len in 2usize..64, counter in 0u8..64,
        ) {
            let summary = StepCounterSummary { record, fields };
            let mut bytes = Vec::new();
            encode_step_counter_summary(&summary, &mut bytes);
            let mut segments = Vec::new();
            segment(&bytes, len, counter, &mut segments);
            prop_assert!(segments.iter().all(|s| s.len() <= len));
            prop_assert_eq!(decode_step_counter_summary(&reassemble(&segments)).unwrap(), summary);
        }

        #[test]
        fn sleep_summaries_and_sessions_round_trip(
            record in record(), fields in fields(&SLEEP_FIELDS), session in any::<(u16, u16, u32)>(),
        ) {
            let summary = SleepSummary { record, fields };
            let mut bytes = Vec::new();
            encode_sleep_summary(&summary, &mut bytes);
            prop_assert_eq!(decode_sleep_summary(&bytes).unwrap(), summary);
            let current = CurrentSession { session_id: session.0, sub_session_id: session.1, relative_timestamp_s: session.2 };
            let mut bytes = Vec::new();
            encode_current_session(&current, &mut bytes);
            prop_assert_eq!(decode_current_session(&bytes).unwrap(), current);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_step_counter_summary(&bytes);
            let _ = decode_sleep_summary(&bytes);
            let _ = decode_current_session(&bytes);
            let mut r = Reassembler::new(Characteristic::StepCounterActivitySummary);
            for chunk in bytes.chunks(7) {
                let _ = r.push(chunk);
            }
        }
    }
}
