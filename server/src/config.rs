//! Where Taskyard keeps its data and which database it uses.

use std::path::PathBuf;

/// The database a command works on.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A Postgres server.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Database::Postgres(url) => write!(f, "Postgres({})", redact_url(url)),
        }
    }
}

impl Database {
    /// Picks the database from a URL, or the SQLite file in the data directory.
    pub fn from_url(url: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        match url {
            None | Some("") => Ok(Database::Sqlite(data_dir.join("taskyard.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres(url.to_owned()))
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                anyhow::ensure!(!path.is_empty(), "the SQLite URL names no file");
                Ok(Database::Sqlite(PathBuf::from(path)))
            }
            Some(other) => anyhow::bail!(
                "unsupported database URL `{}`: use postgres://… or sqlite:///path/to/file.db",
                redact_url(other)
            ),
        }
    }
}

impl Database {
    /// What to call it in messages (no password).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => redact_url(url),
        }
    }
}

/// `text` with the password of `url` (if it has one) replaced, for messages that might quote it.
pub fn scrub_password(text: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => text.replace(url, &redact_url(url)).replace(p, "***"),
        None => text.to_owned(),
    }
}

/// The default data directory: `$TASKYARD_DATA_DIR`, else `$XDG_DATA_HOME/taskyard`, else
/// `~/.local/share/taskyard`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("taskyard");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/taskyard"),
        None => PathBuf::from(".taskyard"),
    }
}

/// A URL with its password replaced, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x?sslmode=require"),
            "postgres://u:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        let db =
            Database::from_url(Some("postgres://u:secret@db/x"), std::path::Path::new("/d")).expect("pg");
        assert!(!format!("{db:?}").contains("secret"));
    }

    #[test]
    fn database_urls_are_understood_or_refused() {
        let dir = std::path::Path::new("/data");
        assert_eq!(Database::from_url(None, dir).ok(), Some(Database::Sqlite("/data/taskyard.db".into())));
        assert_eq!(
            Database::from_url(Some("sqlite:///tmp/a.db"), dir).ok(),
            Some(Database::Sqlite("/tmp/a.db".into()))
        );
        assert_eq!(
            Database::from_url(Some("sqlite:rel.db?mode=rwc"), dir).ok(),
            Some(Database::Sqlite("rel.db".into()))
        );
        let err = Database::from_url(Some("mysql://u:pw@h/x"), dir).expect_err("refused").to_string();
        assert!(err.contains("unsupported") && !err.contains("pw"), "{err}");
    }
}
