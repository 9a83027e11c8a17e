//! Who may do what to a patient's record: one pure decision, so that every endpoint asks
//! the same question and the authorisation-matrix test checks one rule set.
//!
//! The rules (FSE 2.0, GDPR art. 9; docs/http-api.md):
//! - the patient does everything on their own record;
//! - a delegate acts within the scopes of a delegation in force (not expired, not
//!   revoked); delegation is a relationship, so a patient account may be a delegate too;
//! - a practitioner reads the data of the patients whose care team they are in, only
//!   while the patient consents to consultation: no consent, no access, emergencies
//!   included (there is no break-glass);
//! - an admin runs accounts and care teams and reads no health data;
//! - consent, delegations, upload secrets and pairing codes are managed by the patient; consent also by
//!   a delegate with the `manage_consent` scope.

use serde::Serialize;

use crate::store::directory::{Role, Scope};

/// What is done to a patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read readings and summaries.
    ReadData,
    /// Read the consent settings.
    ReadConsent,
    /// Change consent or opposition.
    ChangeConsent,
    /// Read or change the delegations the patient gave.
    ManageDelegations,
    /// Read the access log and the notifications.
    ReadAudit,
    /// Make Nightscout upload secrets and gateway pairing codes.
    ManageDevices,
}

/// The facts the decision rests on, gathered from the store for one caller and patient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The caller is the patient.
    pub is_patient: bool,
    /// Scopes the caller holds by delegations in force now.
    pub delegated: Vec<Scope>,
    /// The caller is a practitioner in the patient's care team.
    pub in_care_team: bool,
    /// The patient consents to consultation by the care team.
    pub consultation: bool,
}

/// Whether a caller in `role` with `facts` may do `action`.
#[must_use]
pub fn allowed(role: Role, facts: &Facts, action: Action) -> bool {
    if facts.is_patient && role == Role::Patient {
        return true;
    }
    let delegate = matches!(role, Role::Patient | Role::Delegate);
    let has = |scope| delegate && facts.delegated.contains(&scope);
    match action {
        Action::ReadData => {
            has(Scope::Read)
                || (role == Role::Practitioner && facts.in_care_team && facts.consultation)
        }
        Action::ReadConsent => has(Scope::Read) || has(Scope::ManageConsent),
        Action::ChangeConsent => has(Scope::ManageConsent),
        Action::ReadAudit => has(Scope::Read),
        Action::ManageDelegations | Action::ManageDevices => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_alone_opens_the_record_to_the_care_team() {
        let mut facts = Facts {
            in_care_team: true,
            ..Facts::default()
        };
        assert!(!allowed(Role::Practitioner, &facts, Action::ReadData));
        facts.consultation = true;
        assert!(allowed(Role::Practitioner, &facts, Action::ReadData));
        assert!(!allowed(Role::Practitioner, &facts, Action::ReadAudit));
        facts.in_care_team = false;
        assert!(!allowed(Role::Practitioner, &facts, Action::ReadData));
    }

    #[test]
    fn roles_do_not_borrow_each_others_rights() {
        // A practitioner holding a delegation does not use it; an admin reads nothing;
        // someone who is "the patient" by id but not in the patient role gets nothing.
        let facts = Facts {
            is_patient: true,
            delegated: vec![Scope::Read, Scope::ManageConsent],
            in_care_team: true,
            consultation: true,
        };
        assert!(!allowed(Role::Admin, &facts, Action::ReadData));
        let practitioner = Facts {
            is_patient: false,
            ..facts.clone()
        };
        assert!(!allowed(
            Role::Practitioner,
            &practitioner,
            Action::ChangeConsent
        ));
        assert!(allowed(
            Role::Delegate,
            &practitioner,
            Action::ChangeConsent
        ));
        assert!(!allowed(
            Role::Delegate,
            &practitioner,
            Action::ManageDelegations
        ));
    }
}
