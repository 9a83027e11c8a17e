//! The API's audit writer: accesses from concurrent requests are appended in group
//! commits (one transaction, one disk sync, for whatever queued while the previous
//! commit ran), and each request waits until its record is durable before it answers.
//! An access that was answered is therefore always in the log, without a disk sync per
//! request.

use std::sync::mpsc;

use crate::store::directory::{AccessEntry, AuditRecord};
use crate::store::ReadingStore;

use super::ApiError;

/// Most accesses written in one transaction.
pub const MAX_GROUP: usize = 256;

type Reply = tokio::sync::oneshot::Sender<Result<AuditRecord, ApiError>>;

/// A handle to the writer thread.
#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<(AccessEntry, Reply)>,
}

impl AuditLog {
    /// Starts the writer on its own thread with its own store connection.
    #[must_use]
    pub fn start(mut store: Box<dyn ReadingStore>) -> Self {
        let (queue, arrivals) = mpsc::channel::<(AccessEntry, Reply)>();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                while let Ok(first) = arrivals.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match arrivals.try_recv() {
                            Ok(next) => group.push(next),
                            Err(_) => break,
                        }
                    }
                    let entries: Vec<AccessEntry> = group.iter().map(|(e, _)| e.clone()).collect();
                    match store.directory().record_accesses(&entries) {
                        Ok(records) => {
                            for ((_, reply), record) in group.into_iter().zip(records) {
                                let _ = reply.send(Ok(record));
                            }
                        }
                        Err(error) => {
                            let error = ApiError::from(error);
                            for (_, reply) in group {
                                let _ = reply.send(Err(error.clone()));
                            }
                        }
                    }
                }
            })
            .map_or_else(|_| eprintln!("audit writer thread could not start"), |_| ());
        Self { queue }
    }

    /// Appends `entry`; returns once it is durable.
    ///
    /// # Errors
    /// Store errors, or a stopped writer (then the request must not be answered).
    pub async fn append(&self, entry: AccessEntry) -> Result<AuditRecord, ApiError> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.queue
            .send((entry, reply))
            .map_err(|_| ApiError::internal("audit writer stopped"))?;
        done.await
            .map_err(|_| ApiError::internal("audit writer stopped"))?
    }
}
