//! What the app remembers between launches: where the board comes from, and the agent
//! programs chosen on this computer. One small JSON file,
//! `desktop.json` in the app's config folder; written whole to a temporary file and renamed,
//! so a crash never leaves half of it. A file that cannot be read is reported and treated as
//! a first run (the choice is asked again); it is not overwritten until the user chooses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// Where the board comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Choice {
    /// The server in this app, on this computer.
    Local,
    /// A team server at this origin (`https://taskyard.example.com`).
    Remote {
        /// Its origin, as checked when chosen.
        server: String,
    },
}

/// The remembered settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// `None` until the user chose (the first run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Choice>,
    /// The team servers connected to before, newest first (offered again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_servers: Vec<String>,
    /// The agent programs chosen on this computer (agent → path); an agent without one is
    /// looked up in the agents' `PATH`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub programs: BTreeMap<String, String>,
}

impl Settings {
    /// Reads `file`; a missing file is a first run, an unreadable one is an error to show.
    pub fn load(file: &Path) -> Result<Self> {
        match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("the settings file {} is not valid; choose again", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read the settings file {}", file.display())),
        }
    }

    /// Writes `file` atomically (its folder is made when missing).
    pub fn save(&self, file: &Path) -> Result<()> {
        let dir = file.parent().context("the settings file has no folder")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
        let partial = PathBuf::from(format!("{}.partial", file.display()));
        let text = serde_json::to_vec_pretty(self)?;
        std::fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, file).with_context(|| format!("cannot write {}", file.display()))
    }

    /// Remembers `choice`, and a remote server among the recent ones (at most five).
    pub fn choose(&mut self, choice: Choice) {
        if let Choice::Remote { server } = &choice {
            self.recent_servers.retain(|s| s != server);
            self.recent_servers.insert(0, server.clone());
            self.recent_servers.truncate(5);
        }
        self.choice = Some(choice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_survives_a_restart_and_recent_servers_are_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config/desktop.json");
        assert_eq!(Settings::load(&file).unwrap(), Settings::default(), "no file: a first run");
        let mut settings = Settings::default();
        settings.choose(Choice::Remote { server: "https://a.example".into() });
        settings.choose(Choice::Remote { server: "https://b.example".into() });
        settings.choose(Choice::Remote { server: "https://a.example".into() });
        settings.choose(Choice::Local);
        settings.save(&file).unwrap();
        let loaded = Settings::load(&file).unwrap();
        assert_eq!(loaded.choice, Some(Choice::Local));
        assert_eq!(loaded.recent_servers, ["https://a.example", "https://b.example"]);
        assert!(!dir.path().join("config/desktop.json.partial").exists());
    }

    #[test]
    fn a_damaged_file_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("desktop.json");
        std::fs::write(&file, "{ not json").unwrap();
        let error = format!("{:#}", Settings::load(&file).unwrap_err());
        assert!(error.contains("is not valid; choose again"), "{error}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ not json");
    }
}
