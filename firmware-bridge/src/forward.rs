//! Forwarding: drains the spool to the broker over MQTT with QoS 1, and acknowledges a
//! spooled record only when the broker's PUBACK for it arrives. After a connection
//! error the MQTT client is rebuilt and everything still pending is published again
//! (at-least-once: the hub's replay window and record-identity de-duplication absorb
//! the repeats).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};

use crate::spool::{Spool, SpoolDisk, SpoolError};

/// Most payloads spooled with one sync by [`Forwarder::forward_from`].
pub const GROUP_COMMIT_MAX: usize = 256;
/// Longest an arrival waits for its group commit while other records are in flight.
pub const GROUP_COMMIT_WAIT: Duration = Duration::from_millis(20);

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct ForwarderConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id (the gateway's).
    pub client_id: String,
    /// Topic for readings ([`crate::envelope::readings_topic`]).
    pub topic: String,
    /// Publishes awaiting PUBACK at most (backpressure).
    pub max_inflight: usize,
}

/// Why forwarding stopped.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The records were not all acknowledged in time.
    #[error("{pending} records still unacknowledged after {waited:?}")]
    Timeout {
        /// Records pending.
        pending: usize,
        /// Time waited.
        waited: Duration,
    },
}

/// Drains one spool to the broker.
pub struct Forwarder<D: SpoolDisk> {
    spool: Spool<D>,
    config: ForwarderConfig,
    client: AsyncClient,
    eventloop: EventLoop,
    /// Highest sequence handed to the client since the last (re)connection.
    published_up_to: Option<u64>,
    /// Sequences published, waiting for the packet id the event loop gives them.
    awaiting_packet_id: VecDeque<u64>,
    by_packet_id: HashMap<u16, u64>,
    in_flight: usize,
    /// PUBACKs recorded in the spool's memory but not yet persisted.
    unpersisted_acks: usize,
    last_persist: std::time::Instant,
    /// Connection errors seen (each rebuilds the client).
    pub reconnects: u64,
}

impl<D: SpoolDisk> std::fmt::Debug for Forwarder<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("topic", &self.config.topic)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

fn client(config: &ForwarderConfig) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
    options.set_max_packet_size(crate::envelope::MAX_PACKET, crate::envelope::MAX_PACKET);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_inflight(u16::try_from(config.max_inflight).unwrap_or(u16::MAX));
    AsyncClient::new(options, config.max_inflight.max(1))
}

impl<D: SpoolDisk> Forwarder<D> {
    /// A forwarder for `spool`.
    #[must_use]
    pub fn new(spool: Spool<D>, config: ForwarderConfig) -> Self {
        let (client, eventloop) = client(&config);
        Self {
            spool,
            config,
            client,
            eventloop,
            published_up_to: None,
            awaiting_packet_id: VecDeque::new(),
            by_packet_id: HashMap::new(),
            in_flight: 0,
            unpersisted_acks: 0,
            last_persist: std::time::Instant::now(),
            reconnects: 0,
        }
    }

    /// The spool (to append readings to, or inspect).
    pub fn spool_mut(&mut self) -> &mut Spool<D> {
        &mut self.spool
    }

    /// Records waiting for the broker's acknowledgement.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.spool.pending_count()
    }

    /// Publishes what the in-flight limit allows and handles one network event;
    /// returns the records acknowledged by it.
    ///
    /// # Errors
    /// Spool errors (network errors rebuild the client and are counted instead).
    pub async fn step(&mut self) -> Result<usize, ForwardError> {
        let room = self.config.max_inflight.saturating_sub(self.in_flight);
        let batch: Vec<(u64, Vec<u8>)> = self
            .spool
            .pending_after(self.published_up_to)
            .take(room)
            .map(|r| (r.sequence, r.payload.clone()))
            .collect();
        for (sequence, payload) in batch {
            if self
                .client
                .try_publish(&self.config.topic, QoS::AtLeastOnce, false, payload)
                .is_err()
            {
                break;
            }
            self.awaiting_packet_id.push_back(sequence);
            self.published_up_to = Some(sequence);
            self.in_flight += 1;
        }
        match self.eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(packet_id))) => {
                if let Some(sequence) = self.awaiting_packet_id.pop_front() {
                    self.by_packet_id.insert(packet_id, sequence);
                }
                Ok(0)
            }
            Ok(Event::Incoming(Incoming::PubAck(ack))) => match self.by_packet_id.remove(&ack.pkid)
            {
                Some(sequence) => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.spool.acknowledge_in_memory(sequence);
                    self.unpersisted_acks += 1;
                    let due = self.unpersisted_acks >= GROUP_COMMIT_MAX
                        || self.last_persist.elapsed() >= GROUP_COMMIT_WAIT
                        || self.spool.pending_count() == 0;
                    if due {
                        self.persist_acknowledgements()?;
                    }
                    Ok(1)
                }
                None => Ok(0),
            },
            Ok(_) => Ok(0),
            Err(_) => {
                // Rebuild the client and publish everything pending again.
                self.reconnects += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                (self.client, self.eventloop) = client(&self.config);
                self.published_up_to = None;
                self.awaiting_packet_id.clear();
                self.by_packet_id.clear();
                self.in_flight = 0;
                Ok(0)
            }
        }
    }

    /// Persists the acknowledgements received so far (done by [`Self::step`] in groups
    /// of up to [`GROUP_COMMIT_MAX`], at least every [`GROUP_COMMIT_WAIT`] while acks
    /// arrive, and whenever nothing is left pending).
    ///
    /// # Errors
    /// Spool errors.
    pub fn persist_acknowledgements(&mut self) -> Result<(), ForwardError> {
        self.spool.persist_acknowledgements()?;
        self.unpersisted_acks = 0;
        self.last_persist = std::time::Instant::now();
        Ok(())
    }

    /// Steps until nothing is pending, or fails after `limit`.
    ///
    /// # Errors
    /// [`ForwardError::Timeout`] or spool errors.
    pub async fn drain(&mut self, limit: Duration) -> Result<(), ForwardError> {
        let drained = tokio::time::timeout(limit, async {
            while self.pending() > 0 {
                self.step().await?;
            }
            Ok::<(), ForwardError>(())
        })
        .await;
        match drained {
            Ok(result) => result,
            Err(_) => Err(ForwardError::Timeout {
                pending: self.pending(),
                waited: limit,
            }),
        }
    }

    /// Spools every payload arriving on `incoming` and forwards it, until the channel is
    /// closed and nothing is pending; returns the records still pending (0 unless the
    /// channel closed while the broker was unreachable). Arrivals are spooled in group
    /// commits (one write and one sync for up to [`GROUP_COMMIT_MAX`] payloads, or what
    /// arrived within [`GROUP_COMMIT_WAIT`], or at once when nothing else is in flight).
    /// The MQTT event loop is stepped only while something is pending, and never
    /// cancelled mid-poll.
    ///
    /// # Errors
    /// Spool errors.
    pub async fn forward_from(
        &mut self,
        incoming: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    ) -> Result<usize, ForwardError> {
        let mut open = true;
        let mut arrived: Vec<Vec<u8>> = Vec::new();
        let mut first_arrival: Option<std::time::Instant> = None;
        loop {
            while arrived.len() < GROUP_COMMIT_MAX {
                match incoming.try_recv() {
                    Ok(payload) => {
                        first_arrival.get_or_insert_with(std::time::Instant::now);
                        arrived.push(payload);
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            let due = arrived.len() >= GROUP_COMMIT_MAX
                || self.pending() == 0
                || !open
                || first_arrival.is_some_and(|t| t.elapsed() >= GROUP_COMMIT_WAIT);
            if due && !arrived.is_empty() {
                let batch: Vec<&[u8]> = arrived.iter().map(Vec::as_slice).collect();
                self.spool.append_batch(&batch)?;
                arrived.clear();
                first_arrival = None;
            }
            if self.pending() > 0 {
                self.step().await?;
            } else if open {
                match incoming.recv().await {
                    Some(payload) => {
                        first_arrival = Some(std::time::Instant::now());
                        arrived.push(payload);
                    }
                    None => open = false,
                }
            } else if arrived.is_empty() {
                return Ok(self.pending());
            }
        }
    }

    /// Closes the forwarder, giving the spool back (acknowledgements not yet persisted
    /// stay in its memory; persist them first to keep them across a restart).
    #[must_use]
    pub fn into_spool(self) -> Spool<D> {
        self.spool
    }
}
