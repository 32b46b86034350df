//! Credentials: which keys exist, how values are encrypted at rest (Fernet, several keys for
//! rotation), how a run's set is resolved Global → User → Project with admin locks, and how
//! resolved values are masked for people and redacted from everything Taskyard stores or shows.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::{Deserialize, Serialize};

/// The keys Taskyard knows; an admin may allow more by name.
pub const KNOWN_KEYS: &[&str] = &[
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GITHUB_TOKEN",
    "LINEAR_API_KEY",
    "VOYAGE_API_KEY",
    "GOOGLE_API_KEY",
    "AZURE_OPENAI_API_KEY",
];

/// The longest value accepted.
pub const MAX_VALUE: usize = 16 * 1024;

/// Why a credential operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No encryption key was configured.
    #[error("no credential encryption key is configured: set TASKYARD_FERNET_KEYS (or the key file)")]
    NoKey,
    /// A configured key is not a Fernet key.
    #[error("credential encryption key #{0} is not a valid Fernet key (32 url-safe base64 bytes)")]
    BadKey(usize),
    /// The stored credentials cannot be read with any configured key: the key is wrong.
    #[error(
        "the configured credential keys decrypt none of the {0} stored credentials: the key is wrong or missing; \
         start with the key they were saved with"
    )]
    WrongKey(usize),
    /// One value cannot be decrypted with any configured key (its key was removed).
    #[error("this credential was encrypted with a key that is no longer configured; set it again")]
    Undecryptable,
    /// A name that is neither known nor allowed by an admin.
    #[error("`{0}` is not a credential Taskyard knows; an admin can allow custom names")]
    UnknownKey(String),
    /// A value that cannot be stored.
    #[error("{0}")]
    InvalidValue(String),
    /// The key file could not be read or written.
    #[error("{0}")]
    KeyFile(String),
}

/// A secret value: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value itself, for the process that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The level a value is set at.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Everyone's default, set by admins; an admin lock here wins over everything.
    Global,
    /// One user's own.
    User,
    /// One project's, set by its owners.
    Project,
}

impl Tier {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Global => "global",
            Tier::User => "user",
            Tier::Project => "project",
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = crate::model::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "global" => Ok(Tier::Global),
            "user" => Ok(Tier::User),
            "project" => Ok(Tier::Project),
            other => Err(crate::model::UnknownValue { kind: "credential tier", value: other.to_owned() }),
        }
    }
}

impl TryFrom<String> for Tier {
    type Error = crate::model::UnknownValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A stored credential: its value is a Fernet token, never plaintext.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct StoredCredential {
    /// Its id.
    pub id: uuid::Uuid,
    /// Its tier.
    #[sqlx(try_from = "String")]
    pub tier: Tier,
    /// The user or project it belongs to (nil for global).
    pub scope_id: uuid::Uuid,
    /// The key (environment variable name).
    pub key: String,
    /// The Fernet token.
    pub value: String,
    /// Global only: nobody can override it.
    pub locked: bool,
    /// Who set it last.
    pub updated_by: Option<crate::model::UserId>,
    /// When.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredential")
            .field("tier", &self.tier)
            .field("key", &self.key)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

/// The scope id of a tier: the nil UUID for global.
pub fn scope_id(tier: Tier, owner: Option<uuid::Uuid>) -> uuid::Uuid {
    match tier {
        Tier::Global => uuid::Uuid::nil(),
        Tier::User | Tier::Project => owner.unwrap_or_else(uuid::Uuid::nil),
    }
}

/// Checks a credential name: a known key, or a custom one an admin allowed.
pub fn check_name(name: &str, allowed_custom: &[String]) -> Result<(), CredentialError> {
    let well_formed = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if well_formed && (KNOWN_KEYS.contains(&name) || allowed_custom.iter().any(|a| a == name)) {
        Ok(())
    } else {
        Err(CredentialError::UnknownKey(name.chars().take(80).collect()))
    }
}

/// Checks a value before it is stored.
pub fn check_value(value: &str) -> Result<(), CredentialError> {
    if value.trim().is_empty() {
        return Err(CredentialError::InvalidValue("the value is empty".into()));
    }
    if value.len() > MAX_VALUE {
        return Err(CredentialError::InvalidValue(format!("the value is longer than {MAX_VALUE} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(CredentialError::InvalidValue(
            "the value contains control characters (a pasted newline?)".into(),
        ));
    }
    Ok(())
}

/// What people see of a value: its first 6 and last 4 characters when it is long enough for
/// that to reveal little, else nothing.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 20 {
        return "••••••••".to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Encrypts and decrypts values with Fernet: the first key encrypts, any key decrypts.
pub struct Vault {
    keys: fernet::MultiFernet,
    count: usize,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("keys", &self.count).finish()
    }
}

impl Vault {
    /// A vault over keys in order of preference (url-safe base64, 32 bytes each).
    pub fn new(keys: &[String]) -> Result<Self, CredentialError> {
        let keys: Vec<&str> = keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            return Err(CredentialError::NoKey);
        }
        let parsed = keys
            .iter()
            .enumerate()
            .map(|(i, k)| fernet::Fernet::new(k).ok_or(CredentialError::BadKey(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { count: parsed.len(), keys: fernet::MultiFernet::new(parsed) })
    }

    /// A fresh random key.
    pub fn generate_key() -> String {
        fernet::Fernet::generate_key()
    }

    /// Keys from a comma- or newline-separated list.
    pub fn parse_keys(list: &str) -> Vec<String> {
        list.split([',', '\n']).map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect()
    }

    /// The key file of a single-user install: read it, or create it (mode 0600) with a new key.
    /// Servers starting at once on one data directory (replicas on a shared volume) end up
    /// with the same key: the new key is written to a file of this process's own and linked
    /// under the name, which only one of them can do, so the file never appears half written;
    /// the others read the winner's.
    pub fn key_file(path: &Path) -> Result<Vec<String>, CredentialError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let keys = Self::parse_keys(&text);
                if keys.is_empty() {
                    return Err(CredentialError::KeyFile(format!("{} holds no key", path.display())));
                }
                Ok(keys)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate_key();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| CredentialError::KeyFile(e.to_string()))?;
                }
                let cannot = |e: std::io::Error| {
                    CredentialError::KeyFile(format!("cannot create {}: {e}", path.display()))
                };
                let mut own = path.as_os_str().to_owned();
                own.push(format!(".new-{}", uuid::Uuid::now_v7().simple()));
                let own = std::path::PathBuf::from(own);
                let written = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&own)
                    .and_then(|mut file| writeln!(file, "{key}").and_then(|()| file.sync_all()))
                    .and_then(|()| std::fs::hard_link(&own, path));
                let _ = std::fs::remove_file(&own);
                match written {
                    Ok(()) => Ok(vec![key]),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::key_file(path),
                    Err(e) => Err(cannot(e)),
                }
            }
            Err(e) => Err(CredentialError::KeyFile(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Encrypts with the first key.
    pub fn encrypt(&self, value: &str) -> String {
        self.keys.encrypt(value.as_bytes())
    }

    /// Decrypts with whichever key works.
    pub fn decrypt(&self, token: &str) -> Result<Secret, CredentialError> {
        let bytes = self.keys.decrypt(token).map_err(|_| CredentialError::Undecryptable)?;
        String::from_utf8(bytes).map(Secret).map_err(|_| CredentialError::Undecryptable)
    }

    /// At start-up: if credentials are stored and none of them decrypts, the key is wrong —
    /// refuse to run rather than serve with half the secrets missing. Returns how many rows
    /// could not be read (their keys were removed), for a warning.
    pub fn check_stored<'a>(
        &self,
        tokens: impl IntoIterator<Item = &'a str>,
    ) -> Result<usize, CredentialError> {
        let (mut total, mut unreadable) = (0, 0);
        for token in tokens {
            total += 1;
            if self.decrypt(token).is_err() {
                unreadable += 1;
            }
        }
        if total > 0 && unreadable == total { Err(CredentialError::WrongKey(total)) } else { Ok(unreadable) }
    }
}

/// One stored value, as the resolver needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Secret,
    /// Global values only: an admin locked it, so nobody can override it.
    pub locked: bool,
}

/// A resolved value with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The value.
    pub value: Secret,
    /// The tier it came from.
    pub tier: Tier,
    /// It came from a locked global value.
    pub locked: bool,
}

/// Resolves a run's credentials: project over user over global, except keys an admin locked
/// at the global level, which always take the global value.
pub fn resolve(
    global: &[TierValue],
    user: &[TierValue],
    project: &[TierValue],
) -> BTreeMap<String, Resolved> {
    let mut out = BTreeMap::new();
    for (tier, values) in [(Tier::Global, global), (Tier::User, user), (Tier::Project, project)] {
        for v in values {
            let locked_above = out.get(&v.key).is_some_and(|r: &Resolved| r.locked);
            if locked_above {
                continue;
            }
            let locked = tier == Tier::Global && v.locked;
            out.insert(v.key.clone(), Resolved { value: v.value.clone(), tier, locked });
        }
    }
    out
}

/// Replaces secret values in text with `[redacted:KEY]`. Values shorter than 8 characters
/// are not searched for: they would match ordinary text and protect nothing.
#[derive(Clone, Default)]
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    labels: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("secrets", &self.labels.len()).finish()
    }
}

impl Redactor {
    /// A redactor for `(key, value)` pairs.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a Secret)>) -> Self {
        let (mut patterns, mut labels) = (Vec::new(), Vec::new());
        for (key, value) in secrets {
            if value.expose().chars().count() >= 8 {
                for form in encoded_forms(value.expose()) {
                    patterns.push(form);
                    labels.push(format!("[redacted:{key}]"));
                }
            }
        }
        let matcher = (!patterns.is_empty())
            .then(|| AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&patterns).ok())
            .flatten();
        Self { matcher, labels }
    }

    /// Whether it has anything to hide.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// The text with every secret replaced.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(m) = &self.matcher else { return Cow::Borrowed(text) };
        if !m.is_match(text) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        m.replace_all_with(text, &mut out, |mat, _, dst| {
            dst.push_str(&self.labels[mat.pattern().as_usize()]);
            true
        });
        Cow::Owned(out)
    }
}

/// A secret as it may be printed: plain, percent-encoded (as in a URL), and base64 —
/// standard and URL-safe alphabets, at each of the three alignments the value can have
/// inside longer encoded text (`echo "TOKEN=$X" | base64` encodes it after 6 other bytes),
/// keeping only the characters that depend on the value alone.
fn encoded_forms(value: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut forms = vec![value.to_owned()];
    let percent: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    forms.push(percent.clone());
    forms.push(percent.replace("%20", "+"));
    for shift in 0..3usize {
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(value.as_bytes());
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
        let total_bits = 8 * bytes.len();
        let first = (8 * shift).div_ceil(6);
        let last = total_bits / 6;
        if last > first + 8 {
            let stable = &encoded[first..last];
            forms.push(stable.to_owned());
            forms.push(stable.replace('+', "-").replace('/', "_"));
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// The credential service of a server: the vault, and a redactor over every stored value that
/// can be read (rebuilt whenever a value changes).
pub struct Credentials {
    vault: Vault,
    redactor: std::sync::RwLock<std::sync::Arc<Redactor>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("vault", &self.vault).finish_non_exhaustive()
    }
}

/// What [`Credentials::import_environment`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Keys stored in the global tier.
    pub imported: Vec<String>,
    /// Keys not used: the global tier holds a different value, or the value was invalid.
    pub skipped: Vec<String>,
}

/// A run's credentials.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Each key's winning value and where it came from.
    pub values: BTreeMap<String, Resolved>,
    /// Keys whose value could not be decrypted (their encryption key was removed).
    pub unreadable: Vec<(Tier, String)>,
}

impl Credentials {
    /// A service over a vault; call [`Credentials::reload`] before use.
    pub fn new(vault: Vault) -> Self {
        Self { vault, redactor: std::sync::RwLock::new(std::sync::Arc::new(Redactor::default())) }
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The redactor over every stored value.
    pub fn redactor(&self) -> std::sync::Arc<Redactor> {
        self.redactor.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Rebuilds the redactor from the store. Returns how many stored values could not be
    /// decrypted.
    pub async fn reload<S: crate::store::Store>(&self, store: &S) -> crate::store::Result<usize> {
        let stored = store.all_credentials().await?;
        let mut secrets: Vec<(String, Secret)> = Vec::new();
        let mut unreadable = 0;
        for c in stored {
            match self.vault.decrypt(&c.value) {
                Ok(v) => secrets.push((c.key, v)),
                Err(_) => unreadable += 1,
            }
        }
        let redactor = Redactor::new(secrets.iter().map(|(k, v)| (k.as_str(), v)));
        *self.redactor.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            std::sync::Arc::new(redactor);
        Ok(unreadable)
    }

    /// Moves the known credential variables of the server's own environment (`vars`) into
    /// the global tier, so runs get them like any other credential — with provenance, locks
    /// and redaction — and the environment never reaches agents directly. A key the global
    /// tier already holds is left alone (the stored value wins; a different environment value
    /// is reported as skipped). Empty values are ignored, invalid ones skipped.
    pub async fn import_environment<S: crate::store::Store>(
        &self,
        store: &S,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> crate::store::Result<Imported> {
        let global = store.list_credentials(Tier::Global, uuid::Uuid::nil()).await?;
        let mut report = Imported::default();
        for (key, value) in vars {
            if !KNOWN_KEYS.contains(&key.as_str()) || value.is_empty() {
                continue;
            }
            if let Some(stored) = global.iter().find(|c| c.key == key) {
                if self.vault.decrypt(&stored.value).map_or(true, |v| v.expose() != value) {
                    report.skipped.push(key);
                }
                continue;
            }
            if check_value(&value).is_err() {
                report.skipped.push(key);
                continue;
            }
            store
                .put_credential(
                    Tier::Global,
                    uuid::Uuid::nil(),
                    &key,
                    &self.vault.encrypt(&value),
                    false,
                    None,
                )
                .await?;
            report.imported.push(key);
        }
        if !report.imported.is_empty() {
            self.reload(store).await?;
        }
        Ok(report)
    }

    /// Resolves the credentials of a run of `project` started by `user`; without a project,
    /// what the global and user tiers give.
    pub async fn resolve<S: crate::store::Store>(
        &self,
        store: &S,
        project: Option<crate::model::ProjectId>,
        user: Option<crate::model::UserId>,
    ) -> crate::store::Result<Resolution> {
        let mut unreadable = Vec::new();
        let mut tier = |rows: Vec<StoredCredential>| -> Vec<TierValue> {
            rows.into_iter()
                .filter_map(|c| match self.vault.decrypt(&c.value) {
                    Ok(value) => Some(TierValue { key: c.key, value, locked: c.locked }),
                    Err(_) => {
                        unreadable.push((c.tier, c.key));
                        None
                    }
                })
                .collect()
        };
        let global = tier(store.list_credentials(Tier::Global, uuid::Uuid::nil()).await?);
        let user = match user {
            Some(u) => tier(store.list_credentials(Tier::User, u.0).await?),
            None => Vec::new(),
        };
        let project = match project {
            Some(p) => tier(store.list_credentials(Tier::Project, p.0).await?),
            None => Vec::new(),
        };
        Ok(Resolution { values: resolve(&global, &user, &project), unreadable })
    }
}

/// Whether an environment variable's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    KNOWN_KEYS.contains(&name) || ["KEY", "TOKEN", "SECRET", "PASSWORD"].iter().any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tv(key: &str, value: &str, locked: bool) -> TierValue {
        TierValue { key: key.into(), value: Secret::new(value), locked }
    }

    /// Every combination of tiers and locks for one key: who wins.
    #[test]
    fn resolution_table() {
        const K: &str = "GITHUB_TOKEN";
        // (global: None | Some(locked), user set, project set) → winning tier
        let cases: [(Option<bool>, bool, bool, Option<Tier>); 12] = [
            (None, false, false, None),
            (None, true, false, Some(Tier::User)),
            (None, false, true, Some(Tier::Project)),
            (None, true, true, Some(Tier::Project)),
            (Some(false), false, false, Some(Tier::Global)),
            (Some(false), true, false, Some(Tier::User)),
            (Some(false), false, true, Some(Tier::Project)),
            (Some(false), true, true, Some(Tier::Project)),
            (Some(true), false, false, Some(Tier::Global)),
            (Some(true), true, false, Some(Tier::Global)),
            (Some(true), false, true, Some(Tier::Global)),
            (Some(true), true, true, Some(Tier::Global)),
        ];
        for (global, user, project, want) in cases {
            let g: Vec<_> = global.map(|locked| tv(K, "ghp_global_value_0000", locked)).into_iter().collect();
            let u: Vec<_> = user.then(|| tv(K, "ghp_user_value_000000", false)).into_iter().collect();
            let p: Vec<_> = project.then(|| tv(K, "ghp_project_value_000", false)).into_iter().collect();
            let got = resolve(&g, &u, &p);
            let case = format!("global={global:?} user={user} project={project}");
            assert_eq!(got.get(K).map(|r| r.tier), want, "{case}");
            if let Some(r) = got.get(K) {
                let expected = match r.tier {
                    Tier::Global => "ghp_global_value_0000",
                    Tier::User => "ghp_user_value_000000",
                    Tier::Project => "ghp_project_value_000",
                };
                assert_eq!(r.value.expose(), expected, "{case}");
                assert_eq!(r.locked, global == Some(true), "{case}");
            }
        }
    }

    #[test]
    fn keys_resolve_independently() {
        let got = resolve(
            &[tv("A_KEY", "global-a-000000", true), tv("B_KEY", "global-b-000000", false)],
            &[tv("A_KEY", "user-a-00000000", false), tv("B_KEY", "user-b-00000000", false)],
            &[tv("C_KEY", "project-c-00000", false)],
        );
        let tiers: Vec<(&str, Tier)> = got.iter().map(|(k, r)| (k.as_str(), r.tier)).collect();
        assert_eq!(tiers, [("A_KEY", Tier::Global), ("B_KEY", Tier::User), ("C_KEY", Tier::Project)]);
    }

    #[test]
    fn values_round_trip_and_keys_rotate() {
        let old = Vault::generate_key();
        let new = Vault::generate_key();
        let v1 = Vault::new(std::slice::from_ref(&old)).expect("vault");
        let token = v1.encrypt("sk-ant-oat01-TEST-value");
        assert_ne!(token, "sk-ant-oat01-TEST-value");
        assert_eq!(v1.decrypt(&token).expect("decrypt").expose(), "sk-ant-oat01-TEST-value");
        // Rotation: the new key first, the old one still listed.
        let v2 = Vault::new(&[new.clone(), old.clone()]).expect("vault");
        assert_eq!(v2.decrypt(&token).expect("old rows").expose(), "sk-ant-oat01-TEST-value");
        let reencrypted = v2.encrypt("sk-ant-oat01-TEST-value");
        let only_new = Vault::new(&[new]).expect("vault");
        assert!(only_new.decrypt(&reencrypted).is_ok());
        assert_eq!(
            only_new.decrypt(&token).unwrap_err(),
            CredentialError::Undecryptable,
            "a removed key's row is reported"
        );
        assert_eq!(only_new.check_stored([token.as_str(), reencrypted.as_str()]), Ok(1));
        assert_eq!(
            only_new.check_stored([token.as_str()]),
            Err(CredentialError::WrongKey(1)),
            "nothing readable: wrong key"
        );
        assert_eq!(only_new.check_stored([]), Ok(0));
        assert_eq!(Vault::new(&[]).unwrap_err(), CredentialError::NoKey);
        assert_eq!(Vault::new(&["not-a-key".into()]).unwrap_err(), CredentialError::BadKey(1));
        assert!(!format!("{:?}", Secret::new("sk-ant-oat01-TEST")).contains("TEST"));
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/fernet.key");
        let first = Vault::key_file(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Vault::key_file(&path).expect("read"), first);
        std::fs::write(&path, "\n").expect("write");
        assert!(Vault::key_file(&path).is_err(), "an empty key file is an error, not a new key");
    }

    #[test]
    fn servers_starting_at_once_on_one_data_directory_agree_on_the_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("fernet.key");
            let barrier = std::sync::Barrier::new(8);
            let keys: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            Vault::key_file(&path)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect()
            });
            let first = keys[0].as_ref().expect("a key");
            assert!(keys.iter().all(|k| k.as_ref() == Ok(first)), "{keys:?}");
            let left: Vec<_> =
                std::fs::read_dir(dir.path()).expect("dir").flatten().map(|e| e.file_name()).collect();
            assert_eq!(left, ["fernet.key"], "no file of a loser is left behind");
        }
    }

    #[test]
    fn names_and_values_are_checked() {
        assert!(check_name("GITHUB_TOKEN", &[]).is_ok());
        assert!(check_name("MY_TOOL_KEY", &[]).is_err());
        assert!(check_name("MY_TOOL_KEY", &["MY_TOOL_KEY".into()]).is_ok());
        for bad in ["", "lower", "1ABC", "A-B", &"A".repeat(65)] {
            assert!(check_name(bad, &[bad.to_owned()]).is_err(), "{bad}");
        }
        assert!(check_value("  ").is_err());
        assert!(check_value("abc\ndef").is_err());
        assert!(check_value(&"x".repeat(MAX_VALUE + 1)).is_err());
        assert!(check_value("sk-ant-oat01-TEST").is_ok());
    }

    #[test]
    fn masks_show_little() {
        assert_eq!(mask("sk-ant-oat01-TESTabcdefghijklmnop1234"), "sk-ant…1234");
        assert_eq!(mask("short-secret"), "••••••••");
    }

    #[test]
    fn redaction_knows_base64_and_url_encoded_forms() {
        use base64::Engine as _;
        let secret = Secret::new("sk-ant-oat01-TEST-canary/with+odd=chars 01");
        let r = Redactor::new([("CLAUDE_CODE_OAUTH_TOKEN", &secret)]);
        for prefix in ["", "T", "TO", "TOKEN=", "export CLAUDE_CODE_OAUTH_TOKEN="] {
            let printed = format!("{prefix}{}\n", secret.expose());
            for engine in
                [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE]
            {
                let encoded = engine.encode(printed.as_bytes());
                let redacted = r.redact(&encoded);
                assert!(redacted.contains("[redacted:CLAUDE_CODE_OAUTH_TOKEN]"), "{prefix:?}: {redacted}");
                // What is left cannot be decoded back into the secret.
                let left: String = redacted.replace("[redacted:CLAUDE_CODE_OAUTH_TOKEN]", "");
                assert!(left.len() <= prefix.len() * 4 / 3 + 10, "{prefix:?}: {left}");
            }
        }
        let url = "https://example.com/?t=sk-ant-oat01-TEST-canary%2Fwith%2Bodd%3Dchars%2001";
        assert_eq!(r.redact(url), "https://example.com/?t=[redacted:CLAUDE_CODE_OAUTH_TOKEN]");
        assert_eq!(
            r.redact("t=sk-ant-oat01-TEST-canary%2Fwith%2Bodd%3Dchars+01"),
            "t=[redacted:CLAUDE_CODE_OAUTH_TOKEN]"
        );
    }

    #[test]
    fn redaction_replaces_every_occurrence() {
        let a = Secret::new("sk-ant-oat01-TESTAAAA");
        let b = Secret::new("ghp_TESTBBBBBBBB");
        let short = Secret::new("abc");
        let r = Redactor::new([("CLAUDE_CODE_OAUTH_TOKEN", &a), ("GITHUB_TOKEN", &b), ("X", &short)]);
        let text = "token=sk-ant-oat01-TESTAAAA and ghp_TESTBBBBBBBB, again sk-ant-oat01-TESTAAAA; abc stays";
        assert_eq!(
            r.redact(text),
            "token=[redacted:CLAUDE_CODE_OAUTH_TOKEN] and [redacted:GITHUB_TOKEN], again [redacted:CLAUDE_CODE_OAUTH_TOKEN]; abc stays"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        assert!(Redactor::default().is_empty());
        assert_eq!(Redactor::default().redact("sk-ant-oat01-TESTAAAA"), "sk-ant-oat01-TESTAAAA");
    }
}
