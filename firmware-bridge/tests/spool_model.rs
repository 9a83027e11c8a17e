//! The spool against a model, through crashes: a simulated disk that can die in the
//! middle of any write (a torn record, or an atomic replace that did not happen), random
//! appends, acknowledgements in any order, and restarts. After every restart the spool
//! holds exactly the records that were durably appended and not yet acknowledged
//! through a persisted frontier, in order and intact — nothing lost, nothing invented.

use std::collections::BTreeMap;

use firmware_bridge::spool::{Spool, SpoolDisk};
use proptest::prelude::*;

/// Files that survive a crash, and a byte budget after which the "power" fails.
#[derive(Debug, Default, Clone)]
struct CrashingDisk {
    files: BTreeMap<String, Vec<u8>>,
    /// Bytes that may still be written before the crash (`None`: no crash planned).
    budget: Option<usize>,
    crashed: bool,
}

impl CrashingDisk {
    fn spend(&mut self, wanted: usize) -> std::io::Result<usize> {
        if self.crashed {
            return Err(std::io::Error::other("crashed"));
        }
        match self.budget {
            Some(left) if left < wanted => {
                self.crashed = true;
                self.budget = None;
                Ok(left)
            }
            Some(left) => {
                self.budget = Some(left - wanted);
                Ok(wanted)
            }
            None => Ok(wanted),
        }
    }
}

impl SpoolDisk for CrashingDisk {
    fn list(&self) -> std::io::Result<Vec<String>> {
        Ok(self.files.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        self.files
            .get(name)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    fn append_sync(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let written = self.spend(bytes.len())?;
        self.files
            .entry(name.to_owned())
            .or_default()
            .extend_from_slice(&bytes[..written]);
        if written < bytes.len() {
            return Err(std::io::Error::other("crashed mid-write"));
        }
        Ok(())
    }

    fn truncate(&mut self, name: &str, length: u64) -> std::io::Result<()> {
        self.spend(0)?;
        if let Some(file) = self.files.get_mut(name) {
            file.truncate(length as usize);
        }
        Ok(())
    }

    fn replace(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        // Atomic: all or nothing.
        if self.spend(bytes.len())? < bytes.len() {
            return Err(std::io::Error::other("crashed before rename"));
        }
        self.files.insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn remove(&mut self, name: &str) -> std::io::Result<()> {
        self.spend(0)?;
        self.files.remove(name);
        Ok(())
    }
}

/// The model: durably appended records (sequence, payload) not yet persisted as
/// acknowledged.
type Model = Vec<(u64, Vec<u8>)>;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    AppendBatch(Vec<Vec<u8>>),
    /// Acknowledge the n-th pending record (modulo the number pending).
    Acknowledge(usize),
    /// Acknowledge the n-th pending record in memory only.
    AcknowledgeInMemory(usize),
    /// Persist the in-memory acknowledgements.
    PersistAcknowledgements,
    /// Let the power fail after this many more bytes.
    PlanCrash(usize),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Append),
        2 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..5).prop_map(Op::AppendBatch),
        4 => any::<usize>().prop_map(Op::Acknowledge),
        3 => any::<usize>().prop_map(Op::AcknowledgeInMemory),
        1 => Just(Op::PersistAcknowledgements),
        1 => (0_usize..120).prop_map(Op::PlanCrash),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn crashes_lose_nothing_and_invent_nothing(ops in prop::collection::vec(op(), 1..80)) {
        let segment_bytes = 100; // a few records per segment, so segments roll and are deleted
        let mut disk = CrashingDisk::default();
        let (mut spool, _) = Spool::open_with_segment_bytes(disk.clone(), segment_bytes).unwrap();
        // Model: durably appended records not yet covered by the persisted frontier.
        let mut model: Model = Vec::new();
        // Acknowledged but possibly not persisted: may reappear after a restart.
        let mut acked: std::collections::BTreeSet<u64> = Default::default();
        for op in ops {
            match op {
                Op::Append(payload) => match spool.append(&payload) {
                    Ok(sequence) => model.push((sequence, payload)),
                    Err(_) => {
                        // The process dies with the disk; a torn single record never
                        // comes back.
                        disk = spool_disk(spool);
                        (spool, model) = restart(&mut disk, segment_bytes, model, &acked, &[])?;
                    }
                },
                Op::AppendBatch(payloads) => {
                    let batch: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                    match spool.append_batch(&batch) {
                        Ok(sequences) => model.extend(sequences.zip(payloads)),
                        Err(_) => {
                            // A prefix of the batch's complete records may survive.
                            disk = spool_disk(spool);
                            (spool, model) = restart(&mut disk, segment_bytes, model, &acked, &payloads)?;
                        }
                    }
                }
                Op::Acknowledge(n) => {
                    let pending: Vec<u64> = spool.pending().map(|r| r.sequence).collect();
                    if !pending.is_empty() {
                        let sequence = pending[n % pending.len()];
                        acked.insert(sequence);
                        if spool.acknowledge(sequence).is_err() {
                            disk = spool_disk(spool);
                            (spool, model) = restart(&mut disk, segment_bytes, model, &acked, &[])?;
                        }
                    }
                }
                Op::AcknowledgeInMemory(n) => {
                    let pending: Vec<u64> = spool.pending().map(|r| r.sequence).collect();
                    if !pending.is_empty() {
                        let sequence = pending[n % pending.len()];
                        acked.insert(sequence);
                        spool.acknowledge_in_memory(sequence);
                        prop_assert_eq!(spool.pending_count(), pending.len() - 1);
                    }
                }
                Op::PersistAcknowledgements => {
                    if spool.persist_acknowledgements().is_err() {
                        disk = spool_disk(spool);
                        (spool, model) = restart(&mut disk, segment_bytes, model, &acked, &[])?;
                    }
                }
                Op::PlanCrash(bytes) => {
                    disk = spool_disk(spool);
                    disk.budget = Some(bytes);
                    (spool, _) = Spool::open_with_segment_bytes(disk.clone(), segment_bytes).unwrap();
                    disk.budget = None;
                }
                Op::Restart => {
                    disk = spool_disk(spool);
                    (spool, model) = restart(&mut disk, segment_bytes, model, &acked, &[])?;
                }
            }
        }
        disk = spool_disk(spool);
        restart(&mut disk, segment_bytes, model, &acked, &[])?;
    }
}

/// Takes the disk back from a spool (the test's stand-in for the process dying).
fn spool_disk(spool: Spool<CrashingDisk>) -> CrashingDisk {
    spool.into_disk()
}

/// Reopens after a crash and checks the spool against the model; returns the new spool
/// and the model trimmed to what is pending.
fn restart(
    disk: &mut CrashingDisk,
    segment_bytes: u64,
    model: Model,
    acked: &std::collections::BTreeSet<u64>,
    interrupted_batch: &[Vec<u8>],
) -> Result<(Spool<CrashingDisk>, Model), TestCaseError> {
    disk.crashed = false;
    disk.budget = None;
    let (spool, _) = Spool::open_with_segment_bytes(disk.clone(), segment_bytes)
        .map_err(|e| TestCaseError::fail(format!("reopen failed: {e}")))?;
    let recovered: Model = spool
        .pending()
        .map(|r| (r.sequence, r.payload.clone()))
        .collect();
    // Everything durably appended and not acknowledged is there, intact and in order.
    let unacked: Vec<&(u64, Vec<u8>)> = model.iter().filter(|(s, _)| !acked.contains(s)).collect();
    let mut recovered_iter = recovered.iter().peekable();
    for expected in unacked {
        loop {
            let Some(got) = recovered_iter.next() else {
                return Err(TestCaseError::fail(format!("record {} lost", expected.0)));
            };
            if got.0 == expected.0 {
                prop_assert_eq!(&got.1, &expected.1, "payload of {} changed", expected.0);
                break;
            }
            // Only acknowledged records (frontier not yet persisted) may appear in between.
            prop_assert!(
                acked.contains(&got.0),
                "record {} was never appended durably",
                got.0
            );
        }
    }
    // After the durable records: acknowledged ones again, or a prefix of the batch a crash
    // interrupted, in order.
    let mut batch_prefix = interrupted_batch.iter();
    let mut surviving = Vec::new();
    for rest in recovered_iter {
        if acked.contains(&rest.0) && model.iter().any(|m| m.0 == rest.0) {
            continue;
        }
        prop_assert_eq!(
            Some(&rest.1),
            batch_prefix.next(),
            "unexpected record {}",
            rest.0
        );
        surviving.push(rest.clone());
    }
    // Nothing invented: every recovered record was appended (or attempted) with that payload.
    for (sequence, payload) in &recovered {
        prop_assert!(
            model.iter().any(|(s, p)| s == sequence && p == payload)
                || surviving.iter().any(|(s, _)| s == sequence),
            "record {} invented",
            sequence
        );
    }
    let segments_on_disk = spool
        .disk()
        .files
        .keys()
        .filter(|n| n.starts_with("segment-"))
        .count();
    prop_assert_eq!(segments_on_disk, spool.segments());
    Ok((spool, recovered))
}
