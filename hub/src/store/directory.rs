//! Who is who and who may see what: accounts, care teams, consent, delegations, and the
//! append-only access audit with its notification outbox. Written once over [`Sql`], so
//! both backends run the same statements (and the same test suite).
//!
//! Instants are stored as microseconds since the Unix epoch (UTC).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sql::{Sql, SqlValue};
use super::{PatientId, StoreError};

/// What an account is for. A person who is a patient and also a delegate for someone
/// else has a patient account; delegation is a relationship, not a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Owns a record (the taccuino).
    Patient,
    /// Acts for patients who delegated them (parent of a minor, legal tutor, a person
    /// the patient chose); has no record of their own.
    Delegate,
    /// A doctor (MMG/PLS, specialist) who consults the patients of their care teams.
    Practitioner,
    /// Runs the hub: accounts and care teams; never reads health data.
    Admin,
}

impl Role {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Delegate => "delegate",
            Self::Practitioner => "practitioner",
            Self::Admin => "admin",
        }
    }

    fn parse(name: &str) -> Result<Self, StoreError> {
        Ok(match name {
            "patient" => Self::Patient,
            "delegate" => Self::Delegate,
            "practitioner" => Self::Practitioner,
            "admin" => Self::Admin,
            other => return Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        })
    }
}

/// An account (no secrets: the password hash stays in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Stable identifier; for a patient, also their [`PatientId`].
    pub id: String,
    /// What the account is for.
    pub role: Role,
    /// Name shown to people.
    pub display_name: String,
    /// Login name.
    pub login: String,
    /// The patient's IANA time zone (days and times of their reports); `Europe/Rome`
    /// unless set.
    pub time_zone: String,
    /// The patient's codice fiscale (how the FSE and the GP's record know them), when
    /// set; see `crate::fiscal_code`.
    pub fiscal_code: Option<String>,
}

/// What a delegate may do for the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read the patient's readings, summaries and access log.
    Read,
    /// Grant or revoke consent and opposition for the patient.
    ManageConsent,
}

/// A delegation from a patient to another account, valid until it expires or is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// Store id.
    pub id: i64,
    /// Who delegates.
    pub patient: String,
    /// Who acts for them (an account id).
    pub delegate: String,
    /// Why (`parent`, `tutor`, `delegated`).
    pub relationship: String,
    /// What the delegate may do.
    pub scopes: Vec<Scope>,
    /// Valid until this instant (UTC).
    pub expires_at: DateTime<Utc>,
    /// When the patient revoked it, if they did.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Delegation {
    /// Whether the delegation is in force at `now` and grants `scope`.
    #[must_use]
    pub fn grants(&self, scope: Scope, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && self.scopes.contains(&scope)
    }
}

/// The patient's choices (FSE 2.0): consent to consultation by the doctors of their care
/// team, and opposition to forwarding their data to the FSE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Doctors of the care team may consult the record.
    pub consultation: bool,
    /// The patient opposes forwarding to the FSE (opt-out): nothing is sent.
    pub fse_opposition: bool,
    /// When last changed (UTC); `None` if never set (then no consultation, no opposition).
    pub updated_at: Option<DateTime<Utc>>,
    /// Account that last changed it.
    pub updated_by: Option<String>,
}

/// One access by someone other than the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Store id (increasing).
    pub id: i64,
    /// Whose data.
    pub patient: String,
    /// Who.
    pub actor: String,
    /// In which role.
    pub actor_role: Role,
    /// What (e.g. `GET readings`).
    pub action: String,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// `allowed` or `denied`.
    pub outcome: String,
}

/// An access to be written to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// Whose record.
    pub patient: PatientId,
    /// Who.
    pub actor: String,
    /// In which role.
    pub actor_role: Role,
    /// What (e.g. `GET readings`).
    pub action: String,
    /// Whether it was allowed.
    pub allowed: bool,
    /// When (UTC).
    pub at: DateTime<Utc>,
}

/// A notification to the patient waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Store id.
    pub id: i64,
    /// To whom.
    pub patient: String,
    /// The access it tells about.
    pub audit_id: i64,
    /// When queued (UTC).
    pub created_at: DateTime<Utc>,
    /// When delivered, if it was.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The directory over one connection.
pub struct Directory<'a> {
    pub(crate) sql: &'a mut dyn Sql,
}

fn micros(at: DateTime<Utc>) -> SqlValue {
    SqlValue::Int(at.timestamp_micros())
}

fn instant(value: &SqlValue) -> Result<DateTime<Utc>, StoreError> {
    value
        .as_int()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| StoreError::Corrupt("instant out of range".into()))
}

fn text(value: &SqlValue) -> Result<String, StoreError> {
    value
        .as_text()
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Corrupt("text expected".into()))
}

fn int(value: &SqlValue) -> Result<i64, StoreError> {
    value
        .as_int()
        .ok_or_else(|| StoreError::Corrupt("integer expected".into()))
}

const ACCOUNT_COLUMNS: &str = "id, role, display_name, login, time_zone, fiscal_code";

fn account(row: &[SqlValue]) -> Result<Account, StoreError> {
    Ok(Account {
        id: text(&row[0])?,
        role: Role::parse(&text(&row[1])?)?,
        display_name: text(&row[2])?,
        login: text(&row[3])?,
        time_zone: text(&row[4])?,
        fiscal_code: row.get(5).and_then(SqlValue::as_text).map(str::to_owned),
    })
}

const DELEGATION_COLUMNS: &str =
    "id, patient_id, delegate_id, relationship, scopes, expires_us, revoked_us";

fn delegation(row: &[SqlValue]) -> Result<Delegation, StoreError> {
    let scopes = text(&row[4])?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "read" => Ok(Scope::Read),
            "manage_consent" => Ok(Scope::ManageConsent),
            other => Err(StoreError::Corrupt(format!("unknown scope {other:?}"))),
        })
        .collect::<Result<_, _>>()?;
    Ok(Delegation {
        id: int(&row[0])?,
        patient: text(&row[1])?,
        delegate: text(&row[2])?,
        relationship: text(&row[3])?,
        scopes,
        expires_at: instant(&row[5])?,
        revoked_at: match row[6] {
            SqlValue::Int(_) => Some(instant(&row[6])?),
            _ => None,
        },
    })
}

/// A gateway from a row of `id, patient_id, public_key_hex, paired_us, kind` (devices
/// filled in by [`Directory::with_devices`]).
fn gateway(row: &[SqlValue]) -> Result<Gateway, StoreError> {
    Ok(Gateway {
        id: text(&row[0])?,
        patient: text(&row[1])?,
        kind: if text(&row[4])? == GatewayKind::Theengs.as_str() {
            GatewayKind::Theengs
        } else {
            GatewayKind::Signed
        },
        public_key_hex: text(&row[2])?,
        devices: Vec::new(),
        paired_at: instant(&row[3])?,
    })
}

/// A new account's details.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// Stable identifier.
    pub id: &'a str,
    /// Role.
    pub role: Role,
    /// Name shown to people.
    pub display_name: &'a str,
    /// Login name (unique).
    pub login: &'a str,
    /// PHC string of the password hash (`crate::auth::hash_password`).
    pub password_hash: &'a str,
    /// IANA time zone.
    pub time_zone: &'a str,
}

impl<'a> Directory<'a> {
    /// The directory over `sql`.
    pub fn new(sql: &'a mut dyn Sql) -> Self {
        Self { sql }
    }

    /// Creates an account.
    ///
    /// # Errors
    /// Database errors, among them an id or login already taken.
    pub fn create_account(
        &mut self,
        new: &NewAccount<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.sql.execute(
            "INSERT INTO accounts (id, role, display_name, login, password_hash, time_zone, created_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                new.id.into(),
                new.role.as_str().into(),
                new.display_name.into(),
                new.login.into(),
                new.password_hash.into(),
                new.time_zone.into(),
                micros(now),
            ],
        )?;
        Ok(())
    }

    /// Replaces an account's password hash.
    ///
    /// # Errors
    /// Database errors.
    pub fn set_password(&mut self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            &[id.into(), password_hash.into()],
        )?;
        Ok(())
    }

    /// The account with this id.
    ///
    /// # Errors
    /// Database errors.
    pub fn account(&mut self, id: &str) -> Result<Option<Account>, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"),
            &[id.into()],
        )?;
        rows.first().map(|row| account(row)).transpose()
    }

    /// The account with this login and its password hash (for the login check only).
    ///
    /// # Errors
    /// Database errors.
    pub fn credentials(&mut self, login: &str) -> Result<Option<(Account, String)>, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE login = ?1"),
            &[login.into()],
        )?;
        rows.first()
            .map(|row| Ok((account(row)?, text(&row[6])?)))
            .transpose()
    }

    /// Adds a practitioner to a patient's care team (idempotent).
    ///
    /// # Errors
    /// Database errors.
    pub fn add_to_care_team(
        &mut self,
        patient: &PatientId,
        practitioner: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.sql.execute(
            "INSERT INTO care_team (patient_id, practitioner_id, since_us) VALUES (?1, ?2, ?3)
             ON CONFLICT (patient_id, practitioner_id) DO NOTHING",
            &[patient.0.as_str().into(), practitioner.into(), micros(now)],
        )?;
        Ok(())
    }

    /// Whether the practitioner is in the patient's care team.
    ///
    /// # Errors
    /// Database errors.
    pub fn in_care_team(
        &mut self,
        patient: &PatientId,
        practitioner: &str,
    ) -> Result<bool, StoreError> {
        Ok(!self
            .sql
            .query(
                "SELECT 1 FROM care_team WHERE patient_id = ?1 AND practitioner_id = ?2",
                &[patient.0.as_str().into(), practitioner.into()],
            )?
            .is_empty())
    }

    /// The patients whose care team includes the practitioner and who consent to
    /// consultation now, in name order.
    ///
    /// # Errors
    /// Database errors.
    pub fn consenting_patients(&mut self, practitioner: &str) -> Result<Vec<Account>, StoreError> {
        let rows = self.sql.query(
            "SELECT a.id, a.role, a.display_name, a.login, a.time_zone, a.fiscal_code
             FROM care_team t
             JOIN accounts a ON a.id = t.patient_id
             JOIN consents c ON c.patient_id = t.patient_id
             WHERE t.practitioner_id = ?1 AND c.consultation = 1
             ORDER BY a.display_name, a.id",
            &[practitioner.into()],
        )?;
        rows.iter().map(|row| account(row)).collect()
    }

    /// Sets a patient's codice fiscale (already validated by the caller).
    ///
    /// # Errors
    /// Database errors.
    pub fn set_fiscal_code(&mut self, id: &str, fiscal_code: &str) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE accounts SET fiscal_code = ?2 WHERE id = ?1",
            &[id.into(), fiscal_code.into()],
        )?;
        Ok(())
    }

    /// Replaces the per-patient FHIR destinations (names of configured destinations of
    /// kind `care_team`, e.g. the GP's record) the patient's data go to.
    ///
    /// # Errors
    /// Database errors.
    pub fn set_destinations(
        &mut self,
        patient: &PatientId,
        destinations: &[String],
    ) -> Result<(), StoreError> {
        self.sql.transaction(&mut |sql| {
            sql.execute(
                "DELETE FROM patient_destinations WHERE patient_id = ?1",
                &[patient.0.as_str().into()],
            )?;
            for destination in destinations {
                sql.execute(
                    "INSERT INTO patient_destinations (patient_id, destination) VALUES (?1, ?2)
                     ON CONFLICT (patient_id, destination) DO NOTHING",
                    &[patient.0.as_str().into(), destination.as_str().into()],
                )?;
            }
            Ok(())
        })
    }

    /// The per-patient destinations, by name, sorted.
    ///
    /// # Errors
    /// Database errors.
    pub fn destinations_of(&mut self, patient: &PatientId) -> Result<Vec<String>, StoreError> {
        self.sql
            .query(
                "SELECT destination FROM patient_destinations WHERE patient_id = ?1 ORDER BY destination",
                &[patient.0.as_str().into()],
            )?
            .iter()
            .map(|row| text(&row[0]))
            .collect()
    }

    /// Every patient account, by id.
    ///
    /// # Errors
    /// Database errors.
    pub fn patients(&mut self) -> Result<Vec<Account>, StoreError> {
        self.sql
            .query(
                &format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE role = 'patient' ORDER BY id"
                ),
                &[],
            )?
            .iter()
            .map(|row| account(row))
            .collect()
    }

    /// The patient's consent (defaults when never set: no consultation, no opposition).
    ///
    /// # Errors
    /// Database errors.
    pub fn consent(&mut self, patient: &PatientId) -> Result<Consent, StoreError> {
        let rows = self.sql.query(
            "SELECT consultation, fse_opposition, updated_us, updated_by FROM consents WHERE patient_id = ?1",
            &[patient.0.as_str().into()],
        )?;
        Ok(match rows.first() {
            None => Consent {
                consultation: false,
                fse_opposition: false,
                updated_at: None,
                updated_by: None,
            },
            Some(row) => Consent {
                consultation: int(&row[0])? == 1,
                fse_opposition: int(&row[1])? == 1,
                updated_at: Some(instant(&row[2])?),
                updated_by: Some(text(&row[3])?),
            },
        })
    }

    /// Sets the patient's consent, recording who changed it.
    ///
    /// # Errors
    /// Database errors.
    pub fn set_consent(
        &mut self,
        patient: &PatientId,
        consultation: bool,
        fse_opposition: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Consent, StoreError> {
        self.sql.execute(
            "INSERT INTO consents (patient_id, consultation, fse_opposition, updated_us, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (patient_id) DO UPDATE SET consultation = ?2, fse_opposition = ?3,
                 updated_us = ?4, updated_by = ?5",
            &[
                patient.0.as_str().into(),
                consultation.into(),
                fse_opposition.into(),
                micros(now),
                by.into(),
            ],
        )?;
        self.consent(patient)
    }

    /// Records a delegation; returns it with its id.
    ///
    /// # Errors
    /// Database errors.
    pub fn delegate(
        &mut self,
        patient: &PatientId,
        delegate: &str,
        relationship: &str,
        scopes: &[Scope],
        expires_at: DateTime<Utc>,
    ) -> Result<Delegation, StoreError> {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let names: Vec<&str> = scopes
            .iter()
            .map(|s| match s {
                Scope::Read => "read",
                Scope::ManageConsent => "manage_consent",
            })
            .collect();
        let rows = self.sql.query(
            "INSERT INTO delegations (patient_id, delegate_id, relationship, scopes, expires_us)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            &[
                patient.0.as_str().into(),
                delegate.into(),
                relationship.into(),
                names.join(",").into(),
                micros(expires_at),
            ],
        )?;
        Ok(Delegation {
            id: int(&rows[0][0])?,
            patient: patient.0.clone(),
            delegate: delegate.to_owned(),
            relationship: relationship.to_owned(),
            scopes,
            expires_at,
            revoked_at: None,
        })
    }

    /// Revokes one of the patient's delegations; `false` if the patient has no such
    /// delegation in force.
    ///
    /// # Errors
    /// Database errors.
    pub fn revoke_delegation(
        &mut self,
        patient: &PatientId,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.sql.execute(
            "UPDATE delegations SET revoked_us = ?3 WHERE patient_id = ?1 AND id = ?2 AND revoked_us IS NULL",
            &[patient.0.as_str().into(), id.into(), micros(now)],
        )? == 1)
    }

    /// Delegations given by the patient (all, newest first).
    ///
    /// # Errors
    /// Database errors.
    pub fn delegations_given(
        &mut self,
        patient: &PatientId,
    ) -> Result<Vec<Delegation>, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {DELEGATION_COLUMNS} FROM delegations WHERE patient_id = ?1 ORDER BY id DESC"),
            &[patient.0.as_str().into()],
        )?;
        rows.iter().map(|row| delegation(row)).collect()
    }

    /// Delegations received by an account (all, newest first).
    ///
    /// # Errors
    /// Database errors.
    pub fn delegations_received(&mut self, delegate: &str) -> Result<Vec<Delegation>, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {DELEGATION_COLUMNS} FROM delegations WHERE delegate_id = ?1 ORDER BY id DESC"),
            &[delegate.into()],
        )?;
        rows.iter().map(|row| delegation(row)).collect()
    }

    /// Replaces the patient's upload secret by the one whose digest is `digest`.
    ///
    /// # Errors
    /// Database errors.
    pub fn set_upload_secret(
        &mut self,
        patient: &PatientId,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (patient, digest) = (patient.0.clone(), digest.to_owned());
        self.sql.transaction(&mut |sql| {
            sql.execute(
                "DELETE FROM upload_secrets WHERE patient_id = ?1",
                &[patient.as_str().into()],
            )?;
            sql.execute(
                "INSERT INTO upload_secrets (digest, patient_id, created_us) VALUES (?1, ?2, ?3)",
                &[digest.as_str().into(), patient.as_str().into(), micros(now)],
            )?;
            Ok(())
        })
    }

    /// The patient whose upload secret has this digest.
    ///
    /// # Errors
    /// Database errors.
    pub fn patient_for_upload_secret(
        &mut self,
        digest: &str,
    ) -> Result<Option<PatientId>, StoreError> {
        let rows = self.sql.query(
            "SELECT patient_id FROM upload_secrets WHERE digest = ?1",
            &[digest.into()],
        )?;
        rows.first()
            .map(|row| Ok(PatientId(text(&row[0])?)))
            .transpose()
    }

    /// Stores a pairing code (by digest) for the patient, valid until `expires_at`.
    ///
    /// # Errors
    /// Database errors.
    pub fn create_pairing_code(
        &mut self,
        patient: &PatientId,
        digest: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.sql.execute(
            "INSERT INTO pairing_codes (digest, patient_id, expires_us) VALUES (?1, ?2, ?3)",
            &[digest.into(), patient.0.as_str().into(), micros(expires_at)],
        )?;
        Ok(())
    }

    /// Redeems a pairing code: binds the gateway (id and public key) to the code's
    /// patient and uses the code up, in one transaction. Pairing the same gateway again
    /// with the same key and patient is accepted (a retried request).
    ///
    /// # Errors
    /// Database errors.
    pub fn redeem_pairing_code(
        &mut self,
        digest: &str,
        gateway: &str,
        credential: &GatewayCredential,
        now: DateTime<Utc>,
    ) -> Result<Result<Gateway, PairingRefusal>, StoreError> {
        let (kind, public_key_hex, devices) = match credential {
            GatewayCredential::Signed { public_key_hex } => {
                (GatewayKind::Signed, public_key_hex.as_str(), &[][..])
            }
            GatewayCredential::Theengs { devices } => {
                (GatewayKind::Theengs, "", devices.as_slice())
            }
        };
        let mut outcome = Err(PairingRefusal::BadCode);
        self.sql.transaction(&mut |sql| {
            outcome = Err(PairingRefusal::BadCode);
            let rows = sql.query(
                "SELECT patient_id FROM pairing_codes
                 WHERE digest = ?1 AND used_us IS NULL AND expires_us > ?2",
                &[digest.into(), micros(now)],
            )?;
            let Some(patient) = rows.first().map(|row| text(&row[0])).transpose()? else {
                return Ok(());
            };
            let existing = sql.query(
                "SELECT patient_id, public_key_hex, kind FROM gateways WHERE id = ?1",
                &[gateway.into()],
            )?;
            if let Some(row) = existing.first() {
                if text(&row[0])? != patient
                    || text(&row[1])? != public_key_hex
                    || text(&row[2])? != kind.as_str()
                {
                    outcome = Err(PairingRefusal::GatewayTaken);
                    return Ok(());
                }
            } else {
                sql.execute(
                    "INSERT INTO gateways (id, patient_id, public_key_hex, paired_us, kind)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    &[
                        gateway.into(),
                        patient.as_str().into(),
                        public_key_hex.into(),
                        micros(now),
                        kind.as_str().into(),
                    ],
                )?;
            }
            // A Theengs gateway paired again (another code) may add devices.
            for address in devices {
                sql.execute(
                    "INSERT INTO gateway_devices (gateway_id, address) VALUES (?1, ?2)
                     ON CONFLICT (gateway_id, address) DO NOTHING",
                    &[gateway.into(), address.as_str().into()],
                )?;
            }
            sql.execute(
                "UPDATE pairing_codes SET used_us = ?2 WHERE digest = ?1",
                &[digest.into(), micros(now)],
            )?;
            outcome = Ok(Gateway {
                id: gateway.to_owned(),
                patient,
                kind,
                public_key_hex: public_key_hex.to_owned(),
                devices: Vec::new(),
                paired_at: now,
            });
            Ok(())
        })?;
        match outcome {
            Ok(paired) => Ok(Ok(self.with_devices(paired)?)),
            refused => Ok(refused),
        }
    }

    /// `gateway` with the devices bound to it.
    fn with_devices(&mut self, mut gateway: Gateway) -> Result<Gateway, StoreError> {
        if gateway.kind == GatewayKind::Theengs {
            let rows = self.sql.query(
                "SELECT address FROM gateway_devices WHERE gateway_id = ?1 ORDER BY address",
                &[gateway.id.as_str().into()],
            )?;
            gateway.devices = rows
                .iter()
                .map(|row| text(&row[0]))
                .collect::<Result<_, _>>()?;
        }
        Ok(gateway)
    }

    /// The gateway with this id.
    ///
    /// # Errors
    /// Database errors.
    pub fn gateway(&mut self, id: &str) -> Result<Option<Gateway>, StoreError> {
        let rows = self.sql.query(
            "SELECT id, patient_id, public_key_hex, paired_us, kind FROM gateways WHERE id = ?1",
            &[id.into()],
        )?;
        match rows.first().map(|row| gateway(row)).transpose()? {
            Some(found) => Ok(Some(self.with_devices(found)?)),
            None => Ok(None),
        }
    }

    /// The patient's gateways, by pairing time.
    ///
    /// # Errors
    /// Database errors.
    pub fn gateways_of(&mut self, patient: &PatientId) -> Result<Vec<Gateway>, StoreError> {
        let rows = self.sql.query(
            "SELECT id, patient_id, public_key_hex, paired_us, kind FROM gateways
             WHERE patient_id = ?1 ORDER BY paired_us, id",
            &[patient.0.as_str().into()],
        )?;
        let found: Vec<Gateway> = rows
            .iter()
            .map(|row| gateway(row))
            .collect::<Result<_, _>>()?;
        found.into_iter().map(|g| self.with_devices(g)).collect()
    }

    /// Appends an access to the patient's audit log and queues a notification for the
    /// patient, in one transaction; returns the record.
    ///
    /// # Errors
    /// Database errors (then neither is written).
    pub fn record_access(
        &mut self,
        patient: &PatientId,
        actor: &str,
        actor_role: Role,
        action: &str,
        allowed: bool,
        now: DateTime<Utc>,
    ) -> Result<AuditRecord, StoreError> {
        let entry = AccessEntry {
            patient: patient.clone(),
            actor: actor.to_owned(),
            actor_role,
            action: action.to_owned(),
            allowed,
            at: now,
        };
        Ok(self
            .record_accesses(std::slice::from_ref(&entry))?
            .remove(0))
    }

    /// Appends accesses to the audit log, each with its notification, in one
    /// transaction (one disk sync for the batch); returns the records in entry order.
    ///
    /// # Errors
    /// Database errors (then nothing is written).
    pub fn record_accesses(
        &mut self,
        entries: &[AccessEntry],
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut records = Vec::with_capacity(entries.len());
        self.sql.transaction(&mut |sql| {
            records.clear();
            for entry in entries {
                let outcome = if entry.allowed { "allowed" } else { "denied" };
                let rows = sql.query(
                    "INSERT INTO audit (patient_id, actor_id, actor_role, action, at_us, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    &[
                        entry.patient.0.as_str().into(),
                        entry.actor.as_str().into(),
                        entry.actor_role.as_str().into(),
                        entry.action.as_str().into(),
                        micros(entry.at),
                        outcome.into(),
                    ],
                )?;
                let id = int(&rows[0][0])?;
                sql.execute(
                    "INSERT INTO notifications (patient_id, audit_id, created_us) VALUES (?1, ?2, ?3)",
                    &[entry.patient.0.as_str().into(), id.into(), micros(entry.at)],
                )?;
                records.push(AuditRecord {
                    id,
                    patient: entry.patient.0.clone(),
                    actor: entry.actor.clone(),
                    actor_role: entry.actor_role,
                    action: entry.action.clone(),
                    at: entry.at,
                    outcome: outcome.to_owned(),
                });
            }
            Ok(())
        })?;
        Ok(records)
    }

    /// The patient's audit log, newest first, at most `limit` records before `before`
    /// (an audit id; all when `None`).
    ///
    /// # Errors
    /// Database errors.
    pub fn audit(
        &mut self,
        patient: &PatientId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self.sql.query(
            "SELECT id, patient_id, actor_id, actor_role, action, at_us, outcome FROM audit
             WHERE patient_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            &[
                patient.0.as_str().into(),
                before.unwrap_or(i64::MAX).into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        )?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: int(&row[0])?,
                    patient: text(&row[1])?,
                    actor: text(&row[2])?,
                    actor_role: Role::parse(&text(&row[3])?)?,
                    action: text(&row[4])?,
                    at: instant(&row[5])?,
                    outcome: text(&row[6])?,
                })
            })
            .collect()
    }

    /// Undelivered notifications of every patient, oldest first, at most `limit`, each
    /// with the access it tells about.
    ///
    /// # Errors
    /// Database errors.
    pub fn undelivered_notifications(
        &mut self,
        limit: usize,
    ) -> Result<Vec<(Notification, AuditRecord)>, StoreError> {
        let rows = self.sql.query(
            "SELECT n.id, n.patient_id, n.audit_id, n.created_us,
                    a.actor_id, a.actor_role, a.action, a.at_us, a.outcome
             FROM notifications n JOIN audit a ON a.id = n.audit_id
             WHERE n.delivered_us IS NULL ORDER BY n.id LIMIT ?1",
            &[i64::try_from(limit).unwrap_or(i64::MAX).into()],
        )?;
        rows.iter()
            .map(|row| {
                let patient = text(&row[1])?;
                let audit_id = int(&row[2])?;
                Ok((
                    Notification {
                        id: int(&row[0])?,
                        patient: patient.clone(),
                        audit_id,
                        created_at: instant(&row[3])?,
                        delivered_at: None,
                    },
                    AuditRecord {
                        id: audit_id,
                        patient,
                        actor: text(&row[4])?,
                        actor_role: Role::parse(&text(&row[5])?)?,
                        action: text(&row[6])?,
                        at: instant(&row[7])?,
                        outcome: text(&row[8])?,
                    },
                ))
            })
            .collect()
    }

    /// Marks a notification delivered at `now`.
    ///
    /// # Errors
    /// Database errors.
    pub fn mark_delivered(&mut self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE notifications SET delivered_us = ?2 WHERE id = ?1 AND delivered_us IS NULL",
            &[id.into(), micros(now)],
        )?;
        Ok(())
    }

    /// Notifications for the patient, oldest first; undelivered only when `pending`.
    ///
    /// # Errors
    /// Database errors.
    pub fn notifications(
        &mut self,
        patient: &PatientId,
        pending: bool,
    ) -> Result<Vec<Notification>, StoreError> {
        let filter = if pending {
            "AND delivered_us IS NULL"
        } else {
            ""
        };
        let rows = self.sql.query(
            &format!(
                "SELECT id, patient_id, audit_id, created_us, delivered_us FROM notifications
                 WHERE patient_id = ?1 {filter} ORDER BY id"
            ),
            &[patient.0.as_str().into()],
        )?;
        rows.iter()
            .map(|row| {
                Ok(Notification {
                    id: int(&row[0])?,
                    patient: text(&row[1])?,
                    audit_id: int(&row[2])?,
                    created_at: instant(&row[3])?,
                    delivered_at: match row[4] {
                        SqlValue::Int(_) => Some(instant(&row[4])?),
                        _ => None,
                    },
                })
            })
            .collect()
    }
}

/// Nightscout upload secrets (migration 4, the same on both backends): the SHA-256 of
/// the SHA-1 hex digest that Nightscout clients send, never the secret or its SHA-1.
pub(crate) const UPLOAD_SECRETS_SCHEMA: &str = "
    CREATE TABLE upload_secrets (
        digest TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL UNIQUE REFERENCES accounts (id),
        created_us BIGINT NOT NULL
    );";

/// Gateways and their pairing codes (migration 5, the same on both backends). Codes are
/// stored as SHA-256 digests, single use, with an expiry.
pub(crate) const GATEWAYS_SCHEMA: &str = "
    CREATE TABLE pairing_codes (
        digest TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES accounts (id),
        expires_us BIGINT NOT NULL,
        used_us BIGINT
    );
    CREATE TABLE gateways (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES accounts (id),
        public_key_hex TEXT NOT NULL,
        paired_us BIGINT NOT NULL
    );
    CREATE INDEX gateways_by_patient ON gateways (patient_id);";

/// Theengs gateways and the devices each may forward (migration 9): a Theengs gateway
/// has no signing key (`public_key_hex` empty) and forwards only the devices bound to
/// it at pairing.
pub(crate) const THEENGS_GATEWAYS_SCHEMA: &str = "
    ALTER TABLE gateways ADD COLUMN kind TEXT NOT NULL DEFAULT 'signed';
    CREATE TABLE gateway_devices (
        gateway_id TEXT NOT NULL REFERENCES gateways (id),
        address TEXT NOT NULL,
        PRIMARY KEY (gateway_id, address)
    );";

/// How a gateway's messages are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    /// A pghd bridge: every message signed with its Ed25519 key (docs/mqtt.md).
    Signed,
    /// A Theengs Gateway: unsigned decoded advertisements on `home/{id}/BTtoMQTT/#`,
    /// trusted through the broker's access control, from its bound devices only.
    Theengs,
}

impl GatewayKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Signed => "signed",
            Self::Theengs => "theengs",
        }
    }
}

/// A gateway paired with a patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    /// The gateway's id (its MQTT topic segment).
    pub id: String,
    /// Whose readings it forwards.
    pub patient: String,
    /// How its messages are trusted.
    pub kind: GatewayKind,
    /// Its Ed25519 public key, hex (empty for a Theengs gateway).
    pub public_key_hex: String,
    /// The Bluetooth addresses a Theengs gateway may forward (upper case with colons);
    /// empty for a signed gateway, whose devices are bound by its signature.
    pub devices: Vec<String>,
    /// When it was paired (UTC).
    pub paired_at: DateTime<Utc>,
}

/// What a gateway presents to pair: its signing key, or (Theengs) its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayCredential {
    /// A pghd bridge's Ed25519 public key, hex (lower case).
    Signed {
        /// The key.
        public_key_hex: String,
    },
    /// A Theengs gateway's devices (normalised addresses).
    Theengs {
        /// The addresses.
        devices: Vec<String>,
    },
}

/// Why a pairing was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingRefusal {
    /// The code is unknown, used or expired.
    BadCode,
    /// The gateway id is paired already, with another patient or another key.
    GatewayTaken,
}

/// The directory's tables (migration 2; portable DDL, see `store::Migration`).
/// Codice fiscale and per-patient FHIR destinations (migration 7).
pub(crate) const DESTINATIONS_SCHEMA: &str = "
    ALTER TABLE accounts ADD COLUMN fiscal_code TEXT;
    CREATE TABLE patient_destinations (
        patient_id TEXT NOT NULL REFERENCES accounts (id),
        destination TEXT NOT NULL,
        PRIMARY KEY (patient_id, destination)
    );";

pub(crate) const DIRECTORY_SCHEMA: &str = "
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        display_name TEXT NOT NULL,
        login TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        created_us BIGINT NOT NULL
    );
    CREATE TABLE care_team (
        patient_id TEXT NOT NULL REFERENCES accounts (id),
        practitioner_id TEXT NOT NULL REFERENCES accounts (id),
        since_us BIGINT NOT NULL,
        PRIMARY KEY (patient_id, practitioner_id)
    );
    CREATE INDEX care_team_by_practitioner ON care_team (practitioner_id);
    CREATE TABLE consents (
        patient_id TEXT PRIMARY KEY REFERENCES accounts (id),
        consultation BIGINT NOT NULL,
        fse_opposition BIGINT NOT NULL,
        updated_us BIGINT NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE TABLE delegations (
        id AUTO_ID,
        patient_id TEXT NOT NULL REFERENCES accounts (id),
        delegate_id TEXT NOT NULL REFERENCES accounts (id),
        relationship TEXT NOT NULL,
        scopes TEXT NOT NULL,
        expires_us BIGINT NOT NULL,
        revoked_us BIGINT
    );
    CREATE INDEX delegations_by_patient ON delegations (patient_id);
    CREATE INDEX delegations_by_delegate ON delegations (delegate_id);
    CREATE TABLE audit (
        id AUTO_ID,
        patient_id TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        action TEXT NOT NULL,
        at_us BIGINT NOT NULL,
        outcome TEXT NOT NULL
    );
    CREATE INDEX audit_by_patient ON audit (patient_id, id);
    CREATE TABLE notifications (
        id AUTO_ID,
        patient_id TEXT NOT NULL,
        audit_id BIGINT NOT NULL REFERENCES audit (id),
        created_us BIGINT NOT NULL,
        delivered_us BIGINT
    );
    CREATE INDEX notifications_by_patient ON notifications (patient_id, id);";

/// The audit log refuses changes, in SQLite.
pub(crate) const SQLITE_AUDIT_APPEND_ONLY: &str = "
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/// The audit log refuses changes, in PostgreSQL.
pub(crate) const POSTGRES_AUDIT_APPEND_ONLY: &str = "
    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION audit_append_only();";
