//! Configuration in one layer: flags > `TASKYARD_*` environment > the aliases other
//! deployments use > the optional config file > defaults. Every value says where it came from,
//! so a bad one is reported by the name the operator wrote.
//!
//! The config file (`--config` or `TASKYARD_CONFIG`) has the environment's shape: one
//! `NAME=value` line per setting (the same names and aliases as the environment, `#`
//! comments, optional quotes), so a compose `.env` file can serve as one.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Names other deployments use, each an alias of the Taskyard variable beside it.
pub const ALIASES: &[(&str, &str)] = &[
    ("TASKYARD_DATABASE_URL", "DATABASE_URL"),
    ("TASKYARD_JWT_SECRET", "JWT_SECRET_KEY"),
    ("TASKYARD_FERNET_KEYS", "CREDENTIAL_ENCRYPTION_KEY"),
    ("TASKYARD_PORT", "WEB_PORT"),
    ("TASKYARD_ACCESS_TOKEN_MINUTES", "JWT_ACCESS_TOKEN_EXPIRE_MINUTES"),
    ("TASKYARD_REFRESH_TOKEN_DAYS", "JWT_REFRESH_TOKEN_EXPIRE_DAYS"),
    ("TASKYARD_DEFAULT_BRANCH", "DEFAULT_BRANCH"),
    ("TASKYARD_DEFAULT_CLAUDE_MODEL", "AUTO_BUILD_MODEL"),
    ("TASKYARD_CLONE_REPOS", "CLONE_REPOS"),
    ("TASKYARD_LOG", "LOG_LEVEL"),
    ("TASKYARD_PUBLIC_URL", "PUBLIC_URL"),
];

/// Taskyard variables that are not flags: secrets (never on a command line), logging (read
/// before the command line is parsed) and the config file itself.
pub const OTHER_VARIABLES: &[&str] = &[
    "TASKYARD_CONFIG",
    "TASKYARD_JWT_SECRET",
    "TASKYARD_FERNET_KEYS",
    "TASKYARD_LOG",
    "TASKYARD_LOG_FORMAT",
];

/// `TASKYARD_*` names that are not the server's settings but are expected around it: set by
/// Taskyard for agents, read by compose, or by the tests.
const NOT_SETTINGS: &[&str] = &[
    "TASKYARD_RUN_ID",
    "TASKYARD_TASK_ID",
    "TASKYARD_PROMPT",
    "TASKYARD_PUBLISH",
    "TASKYARD_PG_BIN",
    "TASKYARD_TEST_SEED",
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The environment, under this name (the Taskyard name or an alias).
    Env(String),
    /// The config file, under this name.
    File(PathBuf, String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Env(name) => write!(f, "{name}"),
            Source::File(path, name) => write!(f, "{name} in {}", path.display()),
        }
    }
}

/// A configured value and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Value {
    /// The text as written (trimmed).
    pub text: String,
    /// Where.
    pub source: Source,
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: only where they came from.
        f.debug_struct("Value").field("source", &self.source).finish_non_exhaustive()
    }
}

/// The environment and the config file, below the command line.
#[derive(Default)]
pub struct Layers {
    env: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    file_path: Option<PathBuf>,
}

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layers").field("file", &self.file_path).finish_non_exhaustive()
    }
}

impl Layers {
    /// The layers of this process: its environment and the config file that `args`
    /// (`--config FILE`) or `TASKYARD_CONFIG` names. `known` is every Taskyard name.
    pub fn load(
        args: &[OsString],
        env: impl IntoIterator<Item = (String, String)>,
        known: &[String],
    ) -> Result<Self, String> {
        let env: BTreeMap<String, String> = env.into_iter().collect();
        let path = config_arg(args)
            .or_else(|| env.get("TASKYARD_CONFIG").filter(|p| !p.is_empty()).map(PathBuf::from));
        let mut layers = Layers { env, ..Default::default() };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!("cannot read the config file {} (--config / TASKYARD_CONFIG): {e}", path.display())
            })?;
            layers.file = parse_file(&text, &path, known)?;
            layers.file_path = Some(path);
        }
        Ok(layers)
    }

    /// The value of a Taskyard variable: its own name in the environment, else its alias
    /// there, else the file (own name, then alias). Empty values count as unset.
    pub fn get(&self, name: &str) -> Option<Value> {
        let alias = alias_of(name);
        let env = |n: &str| self.env.get(n).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let file = |n: &str| self.file.get(n).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let path = || self.file_path.clone().unwrap_or_default();
        if let Some(text) = env(name) {
            return Some(Value { text, source: Source::Env(name.to_owned()) });
        }
        if let Some((alias, text)) = alias.and_then(|a| env(a).map(|t| (a, t))) {
            return Some(Value { text, source: Source::Env(alias.to_owned()) });
        }
        if let Some(text) = file(name) {
            return Some(Value { text, source: Source::File(path(), name.to_owned()) });
        }
        alias
            .and_then(|a| file(a).map(|t| (a, t)))
            .map(|(a, text)| Value { text, source: Source::File(path(), a.to_owned()) })
    }

    /// Whether the Taskyard variable itself is set (non-empty) in the environment.
    pub fn in_env(&self, name: &str) -> bool {
        self.env.get(name).is_some_and(|v| !v.trim().is_empty())
    }

    /// Whether the variable is set but empty (or blank) in the environment.
    pub fn env_is_empty(&self, name: &str) -> bool {
        self.env.get(name).is_some_and(|v| v.trim().is_empty())
    }

    /// A variable of the environment that is not a Taskyard setting (`GITHUB_TOKEN`).
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// What the operator should hear about: an alias that disagrees with the Taskyard name it
    /// stands for (the Taskyard one wins), and `TASKYARD_*` variables nobody reads (a typo),
    /// with the closest known name. Never a value.
    pub fn warnings(&self, known: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (name, alias) in ALIASES {
            let (Some(own), Some(other)) = (self.env.get(*name), self.env.get(*alias)) else { continue };
            if !own.trim().is_empty() && !other.trim().is_empty() && own.trim() != other.trim() {
                out.push(format!("{alias} and {name} are both set and differ: {name} is used"));
            }
        }
        for name in self.env.keys().filter(|k| k.starts_with("TASKYARD_")) {
            if known.iter().any(|k| k == name) || NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            let hint = closest(name, known).map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
            out.push(format!("unknown variable {name} is ignored{hint}"));
        }
        out
    }
}

/// The alias of a Taskyard name, if it has one.
pub fn alias_of(name: &str) -> Option<&'static str> {
    ALIASES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// `--config FILE` or `--config=FILE` before a `--`.
fn config_arg(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let arg = arg.to_str()?;
        if arg == "--" {
            return None;
        }
        if arg == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// `NAME=value` lines; `#` comments and blank lines skipped; `export ` and matching quotes
/// allowed. A name that is neither a Taskyard setting nor an alias is refused: a file is
/// written on purpose, so a typo there is an error.
fn parse_file(text: &str, path: &Path, known: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("{}:{}: expected NAME=value", path.display(), n + 1));
        };
        let name = name.trim();
        let is_alias = ALIASES.iter().any(|(_, a)| *a == name);
        let is_taskyard = known.iter().any(|k| k == name);
        if NOT_SETTINGS.contains(&name) {
            // Compose's own (`TASKYARD_PUBLISH`), not the server's.
            continue;
        }
        if !is_alias && !is_taskyard {
            if name.starts_with("TASKYARD_") || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                let hint = closest(name, known).map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
                return Err(format!("{}:{}: unknown setting {name}{hint}", path.display(), n + 1));
            }
            // Other variables of a compose `.env` (POSTGRES_PASSWORD, …) are not ours.
            continue;
        }
        let value = value.trim();
        let value = match (value.chars().next(), value.chars().last()) {
            (Some(q @ ('"' | '\'')), Some(e)) if q == e && value.len() >= 2 => &value[1..value.len() - 1],
            _ => value,
        };
        out.insert(name.to_owned(), value.to_owned());
    }
    Ok(out)
}

/// The known name nearest to `name`, if it is near (a typo, not another word).
pub fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(name, k), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// Checks a signing secret: present, at least 32 bytes, not an example value. `source` names
/// where it came from in the message.
pub fn check_secret(secret: &str, source: &str) -> Result<(), String> {
    let lower = secret.to_ascii_lowercase();
    const EXAMPLES: &[&str] = &[
        "change-me",
        "changeme",
        "change_me",
        "replace-me",
        "replaceme",
        "your-secret",
        "your_secret",
        "example",
        "placeholder",
        "secret-key",
        "<",
    ];
    if EXAMPLES.iter().any(|e| lower.contains(e)) {
        return Err(format!(
            "{source} holds an example value: set a random one (e.g. `openssl rand -hex 32`)"
        ));
    }
    if secret.len() < taskyard_core::auth::MIN_JWT_SECRET {
        return Err(format!(
            "{source} is {} bytes long: use at least {} random bytes (e.g. `openssl rand -hex 32`)",
            secret.len(),
            taskyard_core::auth::MIN_JWT_SECRET
        ));
    }
    let distinct = secret.bytes().collect::<std::collections::HashSet<_>>().len();
    if distinct < 8 {
        return Err(format!("{source} is not random enough: use e.g. `openssl rand -hex 32`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["TASKYARD_PORT", "TASKYARD_DATABASE_URL", "TASKYARD_JWT_SECRET"].map(String::from).to_vec()
    }

    fn layers(env: &[(&str, &str)], file: Option<&str>) -> Layers {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec![OsString::from("taskyard")];
        if let Some(text) = file {
            let path = dir.path().join("taskyard.env");
            std::fs::write(&path, text).expect("write");
            args.push("--config".into());
            args.push(path.into());
        }
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Layers::load(&args, env, &known()).expect("layers")
    }

    #[test]
    fn the_environment_wins_over_aliases_and_the_file() {
        let l = layers(&[("WEB_PORT", "81"), ("TASKYARD_PORT", "80")], Some("TASKYARD_PORT=82\n"));
        assert_eq!(l.get("TASKYARD_PORT").map(|v| v.text), Some("80".into()));
        let l = layers(&[("WEB_PORT", "81")], Some("TASKYARD_PORT=82\n"));
        let v = l.get("TASKYARD_PORT").expect("value");
        assert_eq!((v.text.as_str(), v.source), ("81", Source::Env("WEB_PORT".into())));
        let l = layers(
            &[],
            Some(
                "# a comment\nexport WEB_PORT=\"83\"\nPOSTGRES_PASSWORD=x\nTASKYARD_PUBLISH=127.0.0.1:7777\n",
            ),
        );
        let v = l.get("TASKYARD_PORT").expect("value");
        assert_eq!(v.text, "83");
        assert!(v.source.to_string().starts_with("WEB_PORT in "), "{}", v.source);
        assert_eq!(l.get("TASKYARD_DATABASE_URL"), None);
    }

    #[test]
    fn disagreeing_aliases_and_typos_are_named() {
        let l = layers(&[("WEB_PORT", "81"), ("TASKYARD_PORT", "80"), ("TASKYARD_PROT", "1")], None);
        let w = l.warnings(&known());
        assert!(w.iter().any(|w| w.contains("WEB_PORT and TASKYARD_PORT")), "{w:?}");
        assert!(
            w.iter().any(|w| w.contains("TASKYARD_PROT") && w.contains("did you mean TASKYARD_PORT")),
            "{w:?}"
        );
        assert!(!w.iter().any(|w| w.contains("81") || w.contains("80")), "values never show: {w:?}");
    }

    #[test]
    fn a_file_with_an_unknown_setting_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.env");
        std::fs::write(&path, "TASKYARD_PROT=1\n").expect("write");
        let args = ["taskyard".into(), format!("--config={}", path.display()).into()];
        let err = Layers::load(&args, [], &known()).expect_err("refused");
        assert!(err.contains("TASKYARD_PROT") && err.contains("TASKYARD_PORT"), "{err}");
    }

    #[test]
    fn weak_secrets_are_refused_by_name() {
        assert!(
            check_secret("change-me-to-a-long-random-string-of-64-chars", "JWT_SECRET_KEY")
                .expect_err("example")
                .contains("JWT_SECRET_KEY")
        );
        assert!(check_secret("short", "TASKYARD_JWT_SECRET").expect_err("short").contains("5 bytes"));
        assert!(check_secret(&"a".repeat(40), "X").is_err());
        assert!(check_secret("3f9a1c0b7e2d4a6f8b0c1d2e3f4a5b6c7d8e9f00", "X").is_ok());
    }
}
