//! Record Access Control Point 0x2A52 (GLS §3.4.3 / CGMS §4.11): how a collector asks a
//! meter or CGM for stored records (the backfill after every reconnect).
//!
//! ```text
//! op code  operator  operand
//! u8       u8        variable: [filter type u8, values...] | count u16 | [request op, response]
//! ```

use serde::{Deserialize, Serialize};

use super::{Characteristic, DateTime, DecodeError, Reader};

const RACP: Characteristic = Characteristic::RecordAccessControlPoint;

/// Which records a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordFilter {
    /// Operator 1: all records.
    All,
    /// Operator 2, filter 1: sequence number ≤ n.
    SequenceAtMost(u16),
    /// Operator 3, filter 1: sequence number ≥ n (backfill from the last one held).
    SequenceAtLeast(u16),
    /// Operator 4, filter 1: sequence numbers in the inclusive range.
    SequenceRange(u16, u16),
    /// Operator 2, filter 2: user-facing time ≤ t.
    TimeAtMost(DateTime),
    /// Operator 3, filter 2: user-facing time ≥ t.
    TimeAtLeast(DateTime),
    /// Operator 4, filter 2: user-facing time in the inclusive range.
    TimeRange(DateTime, DateTime),
    /// Operator 5: the first record.
    First,
    /// Operator 6: the last record.
    Last,
}

/// A RACP response code (op code 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseCode {
    /// 1.
    Success,
    /// 2.
    OpCodeNotSupported,
    /// 3.
    InvalidOperator,
    /// 4.
    OperatorNotSupported,
    /// 5.
    InvalidOperand,
    /// 6.
    NoRecordsFound,
    /// 7.
    AbortUnsuccessful,
    /// 8.
    ProcedureNotCompleted,
    /// 9.
    OperandNotSupported,
}

/// A RACP message in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RacpMessage {
    /// Op 1: report stored records (they arrive as measurement notifications).
    ReportStoredRecords(RecordFilter),
    /// Op 2: delete stored records.
    DeleteStoredRecords(RecordFilter),
    /// Op 3: abort the operation in progress.
    Abort,
    /// Op 4: report the number of stored records.
    ReportNumberOfRecords(RecordFilter),
    /// Op 5: number of stored records (response).
    NumberOfRecords(u16),
    /// Op 6: response to the request with this op code.
    Response {
        /// Op code of the request answered.
        request_op_code: u8,
        /// Outcome.
        code: ResponseCode,
    },
}

fn decode_filter(
    r: &mut Reader<'_>,
    operator_at: usize,
    operator: u8,
) -> Result<RecordFilter, DecodeError> {
    Ok(match operator {
        1 => RecordFilter::All,
        5 => RecordFilter::First,
        6 => RecordFilter::Last,
        2..=4 => {
            let filter_at = r.offset();
            match r.u8("filter type")? {
                1 => match operator {
                    2 => RecordFilter::SequenceAtMost(r.u16("sequence number")?),
                    3 => RecordFilter::SequenceAtLeast(r.u16("sequence number")?),
                    _ => RecordFilter::SequenceRange(
                        r.u16("sequence number min")?,
                        r.u16("sequence number max")?,
                    ),
                },
                2 => match operator {
                    2 => RecordFilter::TimeAtMost(r.date_time("user facing time")?),
                    3 => RecordFilter::TimeAtLeast(r.date_time("user facing time")?),
                    _ => RecordFilter::TimeRange(
                        r.date_time("user facing time min")?,
                        r.date_time("user facing time max")?,
                    ),
                },
                other => return Err(r.reserved("filter type", filter_at, u32::from(other))),
            }
        }
        other => return Err(r.reserved("operator", operator_at, u32::from(other))),
    })
}

/// Decodes a RACP value.
///
/// # Errors
/// [`DecodeError`] for unknown op codes, operators, filter types or response codes,
/// truncated operands and trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<RacpMessage, DecodeError> {
    let mut r = Reader::new(RACP, bytes);
    let op = r.u8("op code")?;
    let operator_at = r.offset();
    let operator = r.u8("operator")?;
    let message = match op {
        1 => RacpMessage::ReportStoredRecords(decode_filter(&mut r, operator_at, operator)?),
        2 => RacpMessage::DeleteStoredRecords(decode_filter(&mut r, operator_at, operator)?),
        3 => RacpMessage::Abort,
        4 => RacpMessage::ReportNumberOfRecords(decode_filter(&mut r, operator_at, operator)?),
        5 => RacpMessage::NumberOfRecords(r.u16("number of records")?),
        6 => {
            let request_op_code = r.u8("request op code")?;
            let code_at = r.offset();
            let code = match r.u8("response code")? {
                1 => ResponseCode::Success,
                2 => ResponseCode::OpCodeNotSupported,
                3 => ResponseCode::InvalidOperator,
                4 => ResponseCode::OperatorNotSupported,
                5 => ResponseCode::InvalidOperand,
                6 => ResponseCode::NoRecordsFound,
                7 => ResponseCode::AbortUnsuccessful,
                8 => ResponseCode::ProcedureNotCompleted,
                9 => ResponseCode::OperandNotSupported,
                other => return Err(r.reserved("response code", code_at, u32::from(other))),
            };
            RacpMessage::Response {
                request_op_code,
                code,
            }
        }
        other => return Err(r.reserved("op code", 0, u32::from(other))),
    };
    if matches!(
        message,
        RacpMessage::Abort | RacpMessage::NumberOfRecords(_) | RacpMessage::Response { .. }
    ) && operator != 0
    {
        return Err(r.reserved("operator", operator_at, u32::from(operator)));
    }
    r.finish("value")?;
    Ok(message)
}

fn encode_filter(filter: &RecordFilter, out: &mut Vec<u8>) {
    match *filter {
        RecordFilter::All => out.push(1),
        RecordFilter::First => out.push(5),
        RecordFilter::Last => out.push(6),
        RecordFilter::SequenceAtMost(n) => out.extend([2, 1].into_iter().chain(n.to_le_bytes())),
        RecordFilter::SequenceAtLeast(n) => out.extend([3, 1].into_iter().chain(n.to_le_bytes())),
        RecordFilter::SequenceRange(a, b) => {
            out.extend(
                [4, 1]
                    .into_iter()
                    .chain(a.to_le_bytes())
                    .chain(b.to_le_bytes()),
            );
        }
        RecordFilter::TimeAtMost(t) => {
            out.extend([2, 2]);
            t.encode(out);
        }
        RecordFilter::TimeAtLeast(t) => {
            out.extend([3, 2]);
            t.encode(out);
        }
        RecordFilter::TimeRange(a, b) => {
            out.extend([4, 2]);
            a.encode(out);
            b.encode(out);
        }
    }
}

/// Encodes a RACP value.
pub fn encode(message: &RacpMessage, out: &mut Vec<u8>) {
    match message {
        RacpMessage::ReportStoredRecords(f) => {
            out.push(1);
            encode_filter(f, out);
        }
        RacpMessage::DeleteStoredRecords(f) => {
            out.push(2);
            encode_filter(f, out);
        }
        RacpMessage::Abort => out.extend([3, 0]),
        RacpMessage::ReportNumberOfRecords(f) => {
            out.push(4);
            encode_filter(f, out);
        }
        RacpMessage::NumberOfRecords(n) => out.extend([5, 0].into_iter().chain(n.to_le_bytes())),
        RacpMessage::Response {
            request_op_code,
            code,
        } => {
            out.extend([6, 0, *request_op_code, *code as u8 + 1]);
        }
    }
}
