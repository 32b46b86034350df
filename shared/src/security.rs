//! The `security` setting: what a team server's members may reach and do — the hosts and
//! networks outbound git operations may reach, the folder members may add repositories from,
//! the agents they may use — plus the timeouts and limits of outbound operations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent;
use crate::outbound::{self, Cidr, Limits, Policy};
use crate::store::Store;

/// Admins change it at run time (`PUT /api/settings/security`); fields left out take their
/// defaults. Local mode ignores what concerns members and never checks addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// Hosts outbound git operations may reach whatever they resolve to (as written in URLs:
    /// `git.corp.example`, `10.1.2.3`, `[fd00::1]`).
    pub allowed_hosts: Vec<String>,
    /// Networks whose addresses may be reached although they are not public (`10.20.0.0/16`).
    pub allowed_cidrs: Vec<String>,
    /// The folder under which members may add repositories from the server's disk (absolute;
    /// none: only admins add such projects, members clone).
    pub project_root: Option<String>,
    /// The agents members may create and start tasks with (admins may use every agent).
    pub member_agents: Vec<String>,
    /// Clone, pull and push operations this server runs at once.
    #[schema(minimum = 1, maximum = 256)]
    pub max_git_operations: u32,
    /// Of those, how many one user may have running.
    #[schema(minimum = 1, maximum = 256)]
    pub max_git_operations_per_user: u32,
    /// Seconds a connection to a git host may take.
    #[schema(minimum = 1, maximum = 300)]
    pub connect_timeout_seconds: u64,
    /// Seconds a transfer may stay below 1 KB/s before it is ended.
    #[schema(minimum = 1, maximum = 3600)]
    pub stall_seconds: u64,
    /// Seconds one clone, pull or push may take in all.
    #[schema(minimum = 1, maximum = 86400)]
    pub deadline_seconds: u64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            allowed_cidrs: Vec::new(),
            project_root: None,
            member_agents: agent::known_names()
                .into_iter()
                .filter(|name| *name != agent::command::NAME)
                .map(str::to_owned)
                .collect(),
            max_git_operations: 8,
            max_git_operations_per_user: 2,
            connect_timeout_seconds: 10,
            stall_seconds: 30,
            deadline_seconds: 30 * 60,
        }
    }
}

/// A field of the setting that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// Which field.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl SecuritySettings {
    /// The setting's key in the store.
    pub const KEY: &'static str = "security";

    /// The settings in force: the stored ones, else the defaults (a stored value that no
    /// longer reads is reported and ignored).
    pub async fn load<S: Store>(store: &S) -> Self {
        match store.get_setting(Self::KEY).await {
            Ok(Some(json)) => match serde_json::from_str::<Self>(&json).map_err(|e| e.to_string()) {
                Ok(settings) => match settings.validated() {
                    Ok(settings) => settings,
                    Err(e) => {
                        tracing::warn!(error = %e, "the security setting is invalid; using the defaults");
                        Self::default()
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "the security setting cannot be read; using the defaults");
                    Self::default()
                }
            },
            Ok(None) => Self::default(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the security setting; using the defaults");
                Self::default()
            }
        }
    }

    /// The settings checked and normalized (hosts lowercase, agent aliases resolved, the
    /// project root canonical), or the first field at fault.
    pub fn validated(mut self) -> Result<Self, Invalid> {
        let invalid = |field: &'static str, message: String| Invalid { field, message };
        let mut hosts = Vec::new();
        for host in &self.allowed_hosts {
            let host = outbound::check_allowed_host(host).map_err(|m| invalid("allowed_hosts", m))?;
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        self.allowed_hosts = hosts;
        for net in &self.allowed_cidrs {
            net.parse::<Cidr>().map_err(|m| invalid("allowed_cidrs", m))?;
        }
        if let Some(root) = self.project_root.take().filter(|r| !r.trim().is_empty()) {
            let path = Path::new(root.trim());
            if !path.is_absolute() {
                return Err(invalid("project_root", "give an absolute path".into()));
            }
            let canonical = std::fs::canonicalize(path).ok().filter(|p| p.is_dir()).ok_or_else(|| {
                invalid("project_root", format!("{} is not a folder on the server", path.display()))
            })?;
            if canonical == Path::new("/") {
                return Err(invalid(
                    "project_root",
                    "the whole file system cannot be the project root".into(),
                ));
            }
            self.project_root = Some(canonical.display().to_string());
        }
        let mut agents = Vec::new();
        for name in &self.member_agents {
            let name = canonical_agent(name);
            if !agent::known_names().contains(&name.as_str()) {
                return Err(invalid(
                    "member_agents",
                    format!("`{name}` is not an agent; known: {}", agent::known_names().join(", ")),
                ));
            }
            if !agents.contains(&name) {
                agents.push(name);
            }
        }
        self.member_agents = agents;
        if !(1..=256).contains(&self.max_git_operations) {
            return Err(invalid("max_git_operations", "between 1 and 256".into()));
        }
        if !(1..=self.max_git_operations).contains(&self.max_git_operations_per_user) {
            return Err(invalid("max_git_operations_per_user", "between 1 and max_git_operations".into()));
        }
        if !(1..=300).contains(&self.connect_timeout_seconds) {
            return Err(invalid("connect_timeout_seconds", "between 1 and 300".into()));
        }
        if !(1..=3600).contains(&self.stall_seconds) {
            return Err(invalid("stall_seconds", "between 1 and 3600".into()));
        }
        if !(1..=86_400).contains(&self.deadline_seconds) {
            return Err(invalid("deadline_seconds", "between 1 and 86400".into()));
        }
        Ok(self)
    }

    /// The outbound policy: addresses checked when `check_addresses` (a team server), with
    /// these settings' allow-list and timeouts.
    pub fn policy(&self, check_addresses: bool) -> Policy {
        let mut policy = Policy {
            check_addresses,
            connect_timeout: Duration::from_secs(self.connect_timeout_seconds),
            low_speed_bytes: 1000,
            low_speed_time: Duration::from_secs(self.stall_seconds),
            deadline: Duration::from_secs(self.deadline_seconds),
            ..Policy::open()
        };
        for host in &self.allowed_hosts {
            policy = policy.allow_host(host);
        }
        for net in self.allowed_cidrs.iter().filter_map(|n| n.parse().ok()) {
            policy = policy.allow_net(net);
        }
        policy
    }

    /// How many outbound operations may run at once.
    pub fn limits(&self) -> Limits {
        Limits {
            total: self.max_git_operations as usize,
            per_user: self.max_git_operations_per_user as usize,
        }
    }

    /// Whether members may use the agent `name`.
    pub fn member_may_use(&self, name: &str) -> bool {
        let name = canonical_agent(name);
        self.member_agents.contains(&name)
    }

    /// Where a member may add a repository from: `path` made canonical, if it lies under the
    /// project root. `None` for every other case alike (no root, missing, outside), so the
    /// answer tells nothing about which paths exist.
    pub fn member_project_path(&self, path: &Path) -> Option<PathBuf> {
        let root = Path::new(self.project_root.as_deref()?);
        let canonical = std::fs::canonicalize(path).ok()?;
        (canonical.starts_with(root) && canonical != root).then_some(canonical)
    }
}

/// `command` is the old name of `custom`.
fn canonical_agent(name: &str) -> String {
    let name = name.trim();
    if name == agent::COMMAND_ALIAS { agent::command::NAME.to_owned() } else { name.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_leave_out_custom_and_validate() {
        let settings = SecuritySettings::default().validated().unwrap();
        assert!(!settings.member_may_use("custom") && !settings.member_may_use("command"));
        assert!(settings.member_may_use("claude"));
        assert_eq!(settings.limits(), Limits { total: 8, per_user: 2 });
    }

    #[test]
    fn bad_values_name_their_field() {
        for (settings, field) in [
            (
                SecuritySettings { allowed_cidrs: vec!["10.0.0.0/40".into()], ..Default::default() },
                "allowed_cidrs",
            ),
            (
                SecuritySettings { allowed_hosts: vec!["http://x/".into()], ..Default::default() },
                "allowed_hosts",
            ),
            (
                SecuritySettings { allowed_hosts: vec!["host:99".into()], ..Default::default() },
                "allowed_hosts",
            ),
            (
                SecuritySettings { project_root: Some("relative".into()), ..Default::default() },
                "project_root",
            ),
            (SecuritySettings { member_agents: vec!["nope".into()], ..Default::default() }, "member_agents"),
            (
                SecuritySettings { max_git_operations_per_user: 9, ..Default::default() },
                "max_git_operations_per_user",
            ),
        ] {
            assert_eq!(settings.validated().unwrap_err().field, field);
        }
        let ok = SecuritySettings {
            allowed_hosts: vec!["Git.Corp.Example".into(), "::1".into()],
            member_agents: vec!["command".into()],
            ..Default::default()
        }
        .validated()
        .unwrap();
        assert_eq!(ok.allowed_hosts, ["git.corp.example", "[::1]"]);
        assert_eq!(ok.member_agents, ["custom"]);
    }
}
