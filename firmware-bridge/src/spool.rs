//! The bridge's on-disk spool: every reading is written here before it is published,
//! and deleted only after the broker acknowledged it, so a crash, a power cut or days
//! offline lose nothing.
//!
//! # On-disk format (version 1)
//!
//! A directory of segment files `segment-<first sequence, 20 digits>.log`, each a run of
//! records, and a file `acked` holding the acknowledgement frontier:
//!
//! ```text
//! record:  magic "PGS1" | length u32 LE | sequence u64 LE | CRC-32 u32 LE | payload
//!          CRC-32 (ISO-HDLC, as zlib) over sequence and payload
//! acked:   sequence u64 LE | CRC-32 u32 LE of those 8 bytes (written to a temporary
//!          file, synced, then renamed over the old one)
//! ```
//!
//! # Invariants
//!
//! - Sequence numbers increase by one per record, across segments and restarts.
//! - A record is durable once [`Spool::append`] or [`Spool::append_batch`] returns: the
//!   segment is synced after every call (fsync policy: every call; a batch is one write
//!   and one sync, "group commit", which is how the forwarder spools what arrived
//!   together). A torn batch at the end is cut off on open like a torn record.
//! - The frontier is the highest sequence such that it and every lower one were
//!   acknowledged; records at or below it are never returned again. Acknowledgements
//!   above the frontier (out of order) are kept in memory; after a crash those records
//!   are sent again (at-least-once; the hub de-duplicates on the record identity).
//! - A segment is deleted only when every record in it is at or below the frontier.
//! - On open, records are read back in order; a torn or corrupt record at the end of the
//!   last segment (a crash in the middle of a write) is cut off and reported. Corruption
//!   anywhere else is an error: the spool never skips a record silently.
//!
//! Storage goes through [`SpoolDisk`] so that tests can crash the "disk" at any point.

use std::collections::BTreeSet;

/// Bytes before a record's payload.
const HEADER: usize = 20;
/// Record magic.
const MAGIC: &[u8; 4] = b"PGS1";
/// Largest payload accepted, bytes (a reading with its raw bytes is a few hundred).
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// A new segment is started when the current one reaches this size, bytes.
pub const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// CRC-32/ISO-HDLC (the zlib CRC): reflected polynomial 0xEDB88320.
#[must_use]
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// The file operations the spool needs; [`FsDisk`] is the real one.
pub trait SpoolDisk {
    /// Names of the files in the spool directory.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn list(&self) -> std::io::Result<Vec<String>>;
    /// The whole content of a file.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>>;
    /// Appends and syncs.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn append_sync(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// Cuts a file to `length` bytes and syncs.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn truncate(&mut self, name: &str, length: u64) -> std::io::Result<()>;
    /// Atomically replaces a file's content (temporary file, sync, rename).
    ///
    /// # Errors
    /// The underlying I/O error.
    fn replace(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// Removes a file.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn remove(&mut self, name: &str) -> std::io::Result<()>;
}

/// The spool directory on the real file system.
#[derive(Debug, Clone)]
pub struct FsDisk {
    directory: std::path::PathBuf,
}

impl FsDisk {
    /// Uses (and creates) `directory`.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn new(directory: impl Into<std::path::PathBuf>) -> std::io::Result<Self> {
        let directory = directory.into();
        std::fs::create_dir_all(&directory)?;
        Ok(Self { directory })
    }
}

impl SpoolDisk for FsDisk {
    fn list(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.directory)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.directory.join(name))
    }

    fn append_sync(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.directory.join(name))?;
        file.write_all(bytes)?;
        file.sync_data()
    }

    fn truncate(&mut self, name: &str, length: u64) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(self.directory.join(name))?;
        file.set_len(length)?;
        file.sync_data()
    }

    fn replace(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let temporary = self.directory.join(format!("{name}.tmp"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, self.directory.join(name))?;
        std::fs::File::open(&self.directory)?.sync_all()
    }

    fn remove(&mut self, name: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.directory.join(name))
    }
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The disk failed.
    #[error("spool I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A record before the end of the spool is damaged.
    #[error("spool segment {segment} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// Segment file.
        segment: String,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A payload is larger than [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is larger than the spool accepts")]
    TooLarge(usize),
}

/// One spooled record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRecord {
    /// Sequence number.
    pub sequence: u64,
    /// Payload.
    pub payload: Vec<u8>,
}

/// What opening found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records waiting for acknowledgement.
    pub pending: usize,
    /// Bytes cut from the end of the last segment (a write torn by a crash).
    pub truncated_bytes: u64,
    /// What was wrong with the cut bytes.
    pub truncated_reason: Option<&'static str>,
}

/// The spool.
#[derive(Debug)]
pub struct Spool<D: SpoolDisk> {
    disk: D,
    /// Segments in order: (file name, first sequence, last sequence, size in bytes).
    segments: Vec<(String, u64, Option<u64>, u64)>,
    /// Records above the frontier, in order.
    pending: std::collections::VecDeque<SpooledRecord>,
    frontier: Option<u64>,
    acked_above_frontier: BTreeSet<u64>,
    /// The frontier moved since it was last written to disk.
    frontier_unpersisted: bool,
    next_sequence: u64,
    segment_bytes: u64,
    /// Set after a failed write: the file may end in a partial record, so nothing more
    /// is written until the spool is reopened (which cuts it off).
    poisoned: bool,
}

fn segment_name(first: u64) -> String {
    format!("segment-{first:020}.log")
}

impl<D: SpoolDisk> Spool<D> {
    /// Opens the spool on `disk`, recovering what is there.
    ///
    /// # Errors
    /// [`SpoolError::Corrupt`] for damage before the end, or I/O errors.
    pub fn open(disk: D) -> Result<(Self, Recovery), SpoolError> {
        Self::open_with_segment_bytes(disk, SEGMENT_BYTES)
    }

    /// [`Self::open`] with segments of `segment_bytes` (tests use small ones).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_with_segment_bytes(
        disk: D,
        segment_bytes: u64,
    ) -> Result<(Self, Recovery), SpoolError> {
        let frontier = match disk.read("acked") {
            Ok(bytes)
                if bytes.len() == 12 && crc32(&[&bytes[..8]]).to_le_bytes() == bytes[8..12] =>
            {
                Some(u64::from_le_bytes(
                    bytes[..8].try_into().unwrap_or_default(),
                ))
            }
            Ok(_) => {
                return Err(SpoolError::Corrupt {
                    segment: "acked".into(),
                    offset: 0,
                    reason: "bad frontier record",
                })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        let mut names: Vec<String> = disk
            .list()?
            .into_iter()
            .filter(|n| n.starts_with("segment-") && n.ends_with(".log"))
            .collect();
        names.sort();
        let mut spool = Self {
            disk,
            segments: Vec::new(),
            pending: std::collections::VecDeque::new(),
            frontier,
            acked_above_frontier: BTreeSet::new(),
            frontier_unpersisted: false,
            next_sequence: frontier.map_or(0, |f| f + 1),
            segment_bytes,
            poisoned: false,
        };
        let mut recovery = Recovery::default();
        let mut previous_sequence: Option<u64> = None;
        let count = names.len();
        for (index, name) in names.into_iter().enumerate() {
            let last_segment = index + 1 == count;
            let bytes = spool.disk.read(&name)?;
            let first: u64 = name["segment-".len()..name.len() - 4].parse().unwrap_or(0);
            let (records, valid) = match scan(&bytes) {
                Ok(records) => (records, bytes.len() as u64),
                Err((records, offset, reason)) if last_segment => {
                    recovery.truncated_bytes = bytes.len() as u64 - offset;
                    recovery.truncated_reason = Some(reason);
                    spool.disk.truncate(&name, offset)?;
                    (records, offset)
                }
                Err((_, offset, reason)) => {
                    return Err(SpoolError::Corrupt {
                        segment: name,
                        offset,
                        reason,
                    })
                }
            };
            let last = records.last().map(|r| r.sequence);
            for record in records {
                if previous_sequence.is_some_and(|p| record.sequence <= p) {
                    return Err(SpoolError::Corrupt {
                        segment: name,
                        offset: 0,
                        reason: "sequence goes back",
                    });
                }
                previous_sequence = Some(record.sequence);
                spool.next_sequence = spool.next_sequence.max(record.sequence + 1);
                if spool.frontier.is_none_or(|f| record.sequence > f) {
                    spool.pending.push_back(record);
                }
            }
            spool.segments.push((name, first, last, valid));
        }
        recovery.pending = spool.pending.len();
        spool.collect_garbage()?;
        Ok((spool, recovery))
    }

    /// Appends `payload` durably and returns its sequence number.
    ///
    /// # Errors
    /// [`SpoolError::TooLarge`] or I/O errors (the record is then not spooled).
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, SpoolError> {
        let sequences = self.append_batch(&[payload])?;
        Ok(sequences.start)
    }

    /// Appends `payloads` durably with one write and one sync (group commit) and
    /// returns their sequence numbers. On an error (a crash mid-write), a prefix of
    /// complete records may still be on disk: they come back when the spool is reopened
    /// and are delivered (at-least-once), never a partial record.
    ///
    /// # Errors
    /// [`SpoolError::TooLarge`] or I/O errors.
    pub fn append_batch(&mut self, payloads: &[&[u8]]) -> Result<std::ops::Range<u64>, SpoolError> {
        if let Some(large) = payloads.iter().find(|p| p.len() > MAX_PAYLOAD) {
            return Err(SpoolError::TooLarge(large.len()));
        }
        if self.poisoned {
            return Err(SpoolError::Io(std::io::Error::other(
                "an earlier write failed; reopen the spool",
            )));
        }
        let first = self.next_sequence;
        if payloads.is_empty() {
            return Ok(first..first);
        }
        // A batch goes into one segment (which may then exceed the nominal size).
        let needs_segment = self
            .segments
            .last()
            .is_none_or(|s| s.3 >= self.segment_bytes);
        if needs_segment {
            self.segments.push((segment_name(first), first, None, 0));
        }
        let mut bytes = Vec::with_capacity(payloads.iter().map(|p| HEADER + p.len()).sum());
        for (offset, payload) in payloads.iter().enumerate() {
            let sequence = first + offset as u64;
            bytes.extend_from_slice(MAGIC);
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&sequence.to_le_bytes());
            bytes.extend_from_slice(&crc32(&[&sequence.to_le_bytes(), payload]).to_le_bytes());
            bytes.extend_from_slice(payload);
        }
        let Some(segment) = self.segments.last_mut() else {
            return Err(SpoolError::Io(std::io::Error::other("no segment")));
        };
        if let Err(error) = self.disk.append_sync(&segment.0, &bytes) {
            self.poisoned = true;
            return Err(error.into());
        }
        let last = first + payloads.len() as u64 - 1;
        segment.2 = Some(last);
        segment.3 += bytes.len() as u64;
        self.next_sequence = last + 1;
        for (offset, payload) in payloads.iter().enumerate() {
            self.pending.push_back(SpooledRecord {
                sequence: first + offset as u64,
                payload: payload.to_vec(),
            });
        }
        Ok(first..last + 1)
    }

    /// Records waiting for acknowledgement, oldest first (those acknowledged out of
    /// order are left out).
    pub fn pending(&self) -> impl Iterator<Item = &SpooledRecord> {
        self.pending_after(None)
    }

    /// Records waiting for acknowledgement with a sequence above `after` (all of them
    /// for `None`), oldest first; found by binary search, so a forwarder that has
    /// published up to `after` does not rescan what it already sent.
    pub fn pending_after(&self, after: Option<u64>) -> impl Iterator<Item = &SpooledRecord> {
        let start = after.map_or(0, |a| self.pending.partition_point(|r| r.sequence <= a));
        self.pending
            .range(start..)
            .filter(|r| !self.acked_above_frontier.contains(&r.sequence))
    }

    /// Number of records waiting for acknowledgement (constant time).
    #[must_use]
    pub fn pending_count(&self) -> usize {
        // Every sequence acknowledged above the frontier is still in `pending`.
        self.pending.len() - self.acked_above_frontier.len()
    }

    /// The broker acknowledged `sequence`: advances the frontier as far as the
    /// acknowledgements reach, persists it, and deletes segments wholly below it.
    ///
    /// # Errors
    /// I/O errors persisting the frontier (the acknowledgement is then kept in memory).
    pub fn acknowledge(&mut self, sequence: u64) -> Result<(), SpoolError> {
        self.acknowledge_in_memory(sequence);
        self.persist_acknowledgements()
    }

    /// Records the broker's acknowledgement of `sequence` in memory only; it becomes
    /// durable with the next [`Self::persist_acknowledgements`]. A crash before that
    /// sends the record again (at-least-once; the hub drops the repeat), which is the
    /// price of one sync per group of acknowledgements instead of two per record.
    pub fn acknowledge_in_memory(&mut self, sequence: u64) {
        if self.frontier.is_some_and(|f| sequence <= f) || sequence >= self.next_sequence {
            return;
        }
        if self
            .pending
            .binary_search_by_key(&sequence, |r| r.sequence)
            .is_err()
        {
            return; // not a record waiting here (keeps `pending_count` exact)
        }
        self.acked_above_frontier.insert(sequence);
        while let Some(front) = self.pending.front() {
            if !self.acked_above_frontier.remove(&front.sequence) {
                break;
            }
            self.frontier = Some(front.sequence);
            self.frontier_unpersisted = true;
            self.pending.pop_front();
        }
    }

    /// Makes the acknowledgements recorded so far durable (one atomic replace of the
    /// frontier file) and deletes segments wholly below the frontier; does nothing when
    /// the frontier has not moved.
    ///
    /// # Errors
    /// I/O errors (the acknowledgements stay in memory and are persisted next time).
    pub fn persist_acknowledgements(&mut self) -> Result<(), SpoolError> {
        if !self.frontier_unpersisted {
            return Ok(());
        }
        let frontier = self.frontier.unwrap_or(0);
        let mut bytes = frontier.to_le_bytes().to_vec();
        bytes.extend_from_slice(&crc32(&[&frontier.to_le_bytes()]).to_le_bytes());
        self.disk.replace("acked", &bytes)?;
        self.frontier_unpersisted = false;
        self.collect_garbage()
    }

    /// Deletes segments whose records are all at or below the frontier (never the one
    /// being written).
    fn collect_garbage(&mut self) -> Result<(), SpoolError> {
        let Some(frontier) = self.frontier else {
            return Ok(());
        };
        while self.segments.len() > 1 {
            let (name, _, last, _) = &self.segments[0];
            if last.is_some_and(|l| l <= frontier) {
                self.disk.remove(name)?;
                self.segments.remove(0);
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Number of segment files.
    #[must_use]
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// The disk, for inspection.
    #[must_use]
    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// Gives the disk back (closing the spool).
    #[must_use]
    pub fn into_disk(self) -> D {
        self.disk
    }
}

/// Reads the records of one segment; on damage, the records before it, the offset of
/// the damage and what it is.
fn scan(bytes: &[u8]) -> Result<Vec<SpooledRecord>, (Vec<SpooledRecord>, u64, &'static str)> {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let fail = |records, reason| Err((records, offset as u64, reason));
        let Some(header) = bytes.get(offset..offset + HEADER) else {
            return fail(records, "truncated header");
        };
        if &header[..4] != MAGIC {
            return fail(records, "bad magic");
        }
        let length = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default()) as usize;
        if length > MAX_PAYLOAD {
            return fail(records, "length too large");
        }
        let sequence = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(header[16..20].try_into().unwrap_or_default());
        let Some(payload) = bytes.get(offset + HEADER..offset + HEADER + length) else {
            return fail(records, "truncated payload");
        };
        if crc32(&[&sequence.to_le_bytes(), payload]) != crc {
            return fail(records, "bad CRC");
        }
        records.push(SpooledRecord {
            sequence,
            payload: payload.to_vec(),
        });
        offset += HEADER + length;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    #[test]
    fn real_files_survive_reopen() {
        let directory = std::env::temp_dir().join(format!("pghd-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let (mut spool, recovery) = Spool::open(FsDisk::new(&directory).unwrap()).unwrap();
        assert_eq!(recovery, Recovery::default());
        for i in 0..5_u8 {
            spool.append(&[i; 3]).unwrap();
        }
        spool.acknowledge(0).unwrap();
        spool.acknowledge(2).unwrap();
        drop(spool);
        let (spool, recovery) = Spool::open(FsDisk::new(&directory).unwrap()).unwrap();
        assert_eq!(
            recovery.pending, 4,
            "1, 2 (acked out of order, sent again), 3, 4"
        );
        let sequences: Vec<u64> = spool.pending().map(|r| r.sequence).collect();
        assert_eq!(sequences, vec![1, 2, 3, 4]);
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
