//! Writing the audit log: who did what, when, from where. A failure to write is logged and
//! does not fail the request it describes.

use taskyard_core::model::AuditEntry;
use taskyard_core::store::Store;

use super::AppState;
use super::access::{Actor, ClientIp};

/// One audit record about to be written.
#[derive(Debug)]
pub struct Audit<'a> {
    /// What happened (`login`, `login_failed`, `register`, `role_changed`, …).
    pub action: &'static str,
    /// Who did it.
    pub actor: Option<&'a Actor>,
    /// For failed sign-ins: what was typed as the e-mail.
    pub actor_text: Option<String>,
    /// What it was done to.
    pub target: Option<String>,
    /// In words.
    pub details: Option<String>,
    /// From where.
    pub ip: ClientIp,
}

impl Audit<'_> {
    /// Writes it (only in team mode: local mode has one user and no audit log).
    pub async fn record(self, app: &AppState) {
        if app.team().is_none() {
            return;
        }
        let user = self.actor.and_then(Actor::user);
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7(),
            at: chrono::Utc::now(),
            actor_id: user.map(|u| u.id),
            actor: user.map(|u| u.email.clone()).or(self.actor_text),
            action: self.action.to_owned(),
            target: self.target,
            ip: self.ip.text(),
            details: self.details,
        };
        if let Err(e) = app.store().append_audit(entry).await {
            tracing::error!(error = %e, action = self.action, "could not write the audit log");
        }
    }
}
