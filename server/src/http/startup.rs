//! What a server does at start-up besides serving: clone the repositories the operator listed
//! (`CLONE_REPOS`), in the background, through the same checks and clone code as the API.

use std::time::Duration;

use taskyard_core::credentials::Tier;
use taskyard_core::model::{Role, Scope, UserId};
use taskyard_core::projects;
use taskyard_core::security::SecuritySettings;
use taskyard_core::store::Store as _;
use tokio::sync::watch;

use super::{AppState, ConfiguredKeys};

/// Start-up settings beyond listening.
#[derive(Debug, Clone, Default)]
pub struct Startup {
    /// Credential keys from the configuration (else the data directory's key file).
    pub fernet_keys: Option<ConfiguredKeys>,
    /// Repositories to clone into projects once.
    pub clone_repos: Vec<String>,
    /// Team mode: the e-mail of their owner (default: the first admin).
    pub clone_repos_owner: Option<String>,
    /// The base branch of projects cloned from now on, where the repository has it.
    pub default_branch: Option<String>,
    /// The model Claude Code runs use when their task names none.
    pub default_claude_model: Option<String>,
    /// The `PATH` agents are looked up in and run with (the desktop app's login-shell
    /// `PATH`); `None` keeps this process's.
    pub agent_path: Option<String>,
    /// The program runs of an agent use when their task names none (agent → path; the
    /// desktop app's choices); changed later with [`super::Running::set_agent_program`].
    pub agent_programs: std::collections::BTreeMap<String, String>,
    /// The shell terminals run; `None`: `$SHELL`, else bash, else sh.
    pub terminal_shell: Option<String>,
}

/// The entries of a comma-separated list (blank ones dropped); each is checked when cloned.
pub fn parse_clone_repos(list: &str) -> Vec<String> {
    list.split([',', '\n']).map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
}

/// A repository URL as projects record it, for "already cloned?".
fn same_repo(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').trim_end_matches(".git").to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Clones each listed repository that no project has yet, one after the other, in the
/// background. An entry that cannot be cloned is logged (without credentials) and skipped.
pub fn clone_repos(app: AppState, startup: Startup, mut stop: watch::Receiver<bool>) {
    if startup.clone_repos.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let Some(owner) = owner(&app, startup.clone_repos_owner.as_deref(), &mut stop).await else { return };
        for url in &startup.clone_repos {
            if *stop.borrow() {
                return;
            }
            clone_one(&app, url, owner).await;
        }
    });
}

/// The projects' owner: none in local mode; in team mode the named user or the first admin,
/// waited for (a fresh server has no account until someone registers).
async fn owner(
    app: &AppState,
    email: Option<&str>,
    stop: &mut watch::Receiver<bool>,
) -> Option<Option<UserId>> {
    if app.team().is_none() {
        return Some(None);
    }
    let mut said = false;
    loop {
        let found = match email {
            Some(email) => {
                let email = taskyard_core::auth::normalize_email(email).unwrap_or_default();
                app.store().find_user_by_email(&email).await.ok().flatten().map(|u| u.user.id)
            }
            None => app
                .store()
                .list_users()
                .await
                .ok()
                .and_then(|users| users.into_iter().find(|u| u.role == Role::Admin).map(|u| u.id)),
        };
        if let Some(id) = found {
            return Some(Some(id));
        }
        if !said {
            said = true;
            match email {
                Some(email) => tracing::warn!(
                    owner = email,
                    "CLONE_REPOS waits for its owner: TASKYARD_CLONE_REPOS_OWNER names no account yet"
                ),
                None => tracing::info!("CLONE_REPOS waits for the first admin to register"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return None,
        }
    }
}

async fn clone_one(app: &AppState, url: &str, owner: Option<UserId>) {
    let shown = crate::config::redact_url(url);
    if let Err(e) = taskyard_core::git::validate_remote_url(url) {
        tracing::warn!(entry = %shown, error = %e, "CLONE_REPOS: invalid entry skipped");
        return;
    }
    match app.store().list_projects(Scope::All).await {
        Ok(existing)
            if existing.iter().any(|p| p.origin_url.as_deref().is_some_and(|o| same_repo(o, url))) =>
        {
            tracing::info!(entry = %shown, "CLONE_REPOS: already cloned");
            return;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(entry = %shown, error = %e, "CLONE_REPOS: cannot list projects; skipped");
            return;
        }
    }
    let settings = SecuritySettings::load(app.store()).await;
    let policy = crate::routes::security::policy(app, &settings);
    let _slot = loop {
        match app.clones().slots().try_acquire(owner.map(|o| o.0), settings.limits()) {
            Ok(slot) => break slot,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let target = match projects::vet_remote(url, &policy).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(entry = %shown, error = %e, "CLONE_REPOS: repository refused or unreachable; skipped");
            return;
        }
    };
    let token = match app.credentials() {
        Some(c) => c.resolve(app.store(), None, None).await.ok().and_then(|r| {
            r.values
                .get("GITHUB_TOKEN")
                .filter(|v| v.tier == Tier::Global)
                .map(|v| v.value.expose().to_owned())
        }),
        None => None,
    };
    let dest = projects::clone_destination(app.data_dir(), url);
    let branch = app.runner().config().default_branch.clone();
    let shutdown = app.shutdown().clone();
    let cloned =
        projects::clone_remote(app.store(), target, dest, token, None, owner, policy, branch, move |_| {
            !*shutdown.borrow()
        })
        .await;
    match cloned {
        Ok(project) => {
            // Replicas starting together may both have cloned it: the project made first stays
            // (ids grow with time), the later one goes, so every replica decides the same.
            let first = app.store().list_projects(Scope::All).await.ok().and_then(|all| {
                all.into_iter()
                    .filter(|p| p.origin_url.as_deref().is_some_and(|o| same_repo(o, url)))
                    .map(|p| p.id)
                    .min_by_key(|id| id.0)
            });
            if first.is_some_and(|first| first != project.id) {
                tracing::info!(entry = %shown, "CLONE_REPOS: another server cloned it at the same time; keeping that one");
                if let Err(e) = projects::delete(app.runner(), project.id, app.data_dir()).await {
                    tracing::warn!(entry = %shown, project = %project.id, error = %e, "CLONE_REPOS: cannot remove the second clone");
                }
                return;
            }
            tracing::info!(entry = %shown, project = %project.id, "CLONE_REPOS: cloned");
            app.bus().publish_board(taskyard_core::events::BoardEvent::ProjectUpdated { project });
        }
        Err(e) => tracing::warn!(entry = %shown, error = %e, "CLONE_REPOS: clone failed; skipped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_and_compare_as_projects_record_them() {
        assert_eq!(parse_clone_repos(" https://a/x.git, ,https://b/y\n"), ["https://a/x.git", "https://b/y"]);
        assert!(same_repo("https://Host/x.git", "https://host/x/"));
        assert!(!same_repo("https://host/x", "https://host/xy"));
    }
}
