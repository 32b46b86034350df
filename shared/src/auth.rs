//! Authentication primitives for the team server: argon2id password hashes, short-lived JWT
//! access tokens (HS256 only), and random opaque secrets (refresh tokens, invite codes) that
//! are stored only as SHA-256 hashes.
//!
//! Everything here is blocking or pure; password hashing belongs in `spawn_blocking`.

use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// Longest password accepted (argon2 would take anything; the limit keeps requests small).
pub const MAX_PASSWORD: usize = 1024;
/// Shortest JWT signing secret accepted, in bytes.
pub const MIN_JWT_SECRET: usize = 32;

/// Why an authentication step failed. Messages never say which part of a credential was
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A password that does not meet the policy.
    #[error("{0}")]
    WeakPassword(String),
    /// The signing key is missing or too weak to run a team server.
    #[error("{0}")]
    WeakKey(String),
    /// A token that is malformed, forged, expired or of another kind.
    #[error("invalid or expired token")]
    InvalidToken,
    /// The machine could not produce randomness or a hash.
    #[error("{0}")]
    Internal(String),
}

/// Checks a new password against the policy.
pub fn check_password(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AuthError::WeakPassword(format!("use at least {MIN_PASSWORD} characters")));
    }
    if password.len() > MAX_PASSWORD {
        return Err(AuthError::WeakPassword(format!("use at most {MAX_PASSWORD} bytes")));
    }
    Ok(())
}

/// OWASP's argon2id baseline: 19 MiB (in KiB blocks), 2 iterations, 1 lane.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn params() -> Params {
    Params::new(M_COST, T_COST, P_COST, None).unwrap_or_default()
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// The 19 MiB an argon2 computation with our parameters works in, allocated once and reused
/// by a caller that hashes again and again (the server's password threads): allocating it
/// per call leaves freed blocks resident in the allocator's per-thread arenas, and a busy
/// server's memory then grew by 19 MiB per sign-in.
pub struct HashMemory(Vec<argon2::Block>);

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMemory").field("blocks", &self.0.len()).finish()
    }
}

impl Default for HashMemory {
    fn default() -> Self {
        Self(vec![argon2::Block::default(); M_COST as usize])
    }
}

/// [`hash_password`] in `memory`: the same PHC string, without allocating.
pub fn hash_password_in(memory: &mut HashMemory, password: &str) -> Result<String, AuthError> {
    use argon2::password_hash::phc::{Output, ParamsString, Salt};
    let failed = |e: &dyn std::fmt::Display| AuthError::Internal(format!("hashing failed: {e}"));
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Internal(format!("no randomness: {e}")))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2()
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory.0)
        .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params()).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// [`verify_password`] in `memory` (a hash with other parameters is checked the allocating
/// way).
pub fn verify_password_in(memory: &mut HashMemory, hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let ours = Params::try_from(&parsed)
        .is_ok_and(|p| p.m_cost() == M_COST && p.t_cost() == T_COST && p.p_cost() == P_COST)
        && parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && expected.len() == Params::DEFAULT_OUTPUT_LEN;
    if !ours {
        return verify_password(hash, password);
    }
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let computed =
        argon2().hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory.0);
    computed.is_ok() && out.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// [`verify_nothing`] in `memory`.
pub fn verify_nothing_in(memory: &mut HashMemory, password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("taskyard-timing-equaliser").unwrap_or_default());
    let _ = verify_password_in(memory, hash, password);
}

/// An argon2id PHC string for `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Internal(format!("no randomness: {e}")))?;
    PasswordHasher::<PasswordHash>::hash_password_with_salt(&argon2(), password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("hashing failed: {e}")))
}

/// Whether `password` matches the stored hash. A malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification without an account, so a login for an unknown
/// e-mail takes as long as one with a wrong password.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("taskyard-timing-equaliser").unwrap_or_default());
    let _ = verify_password(hash, password);
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: String,
    /// The refresh-token family (session) it belongs to.
    pub sid: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
    /// Always "access": refresh tokens are opaque and never JWTs.
    pub typ: String,
}

/// Signs and checks access tokens with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys").field("secret", &"***").field("ttl_secs", &self.ttl_secs).finish()
    }
}

impl JwtKeys {
    /// Keys from a secret of at least [`MIN_JWT_SECRET`] bytes that is not one repeated byte.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Result<Self, AuthError> {
        if secret.len() < MIN_JWT_SECRET {
            return Err(AuthError::WeakKey(format!(
                "the JWT signing key must be at least {MIN_JWT_SECRET} bytes (e.g. `openssl rand -hex 32`)"
            )));
        }
        let distinct = secret.iter().collect::<std::collections::HashSet<_>>().len();
        if distinct < 8 {
            return Err(AuthError::WeakKey("the JWT signing key is not random enough".into()));
        }
        if !(60..=24 * 3600).contains(&ttl_secs) {
            return Err(AuthError::WeakKey("access tokens must live between 1 minute and 24 hours".into()));
        }
        // Only HS256: a token claiming `none`, RS256 or any other algorithm is refused.
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.algorithms = vec![jsonwebtoken::Algorithm::HS256];
        validation.leeway = 5;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        })
    }

    /// How long access tokens live.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// A signed access token for a user in a session.
    pub fn issue(&self, user: Uuid, role: &str, session: Uuid) -> Result<(String, Claims), AuthError> {
        let now = now_secs();
        let claims = Claims {
            sub: user,
            role: role.to_owned(),
            sid: session,
            iat: now,
            exp: now + self.ttl_secs,
            typ: "access".into(),
        };
        let token = encode(&Header::new(jsonwebtoken::Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("signing failed: {e}")))?;
        Ok((token, claims))
    }

    /// The claims of a valid, unexpired access token signed with our key.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| AuthError::InvalidToken)?;
        if data.claims.typ != "access" {
            return Err(AuthError::InvalidToken);
        }
        Ok(data.claims)
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A random opaque secret with a recognisable prefix (`ty_rt_…` refresh tokens, `ty_inv_…`
/// invite codes): 256 bits, URL-safe.
pub fn random_secret(prefix: &str) -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Internal(format!("no randomness: {e}")))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored instead of a secret: its SHA-256, hex. Secrets are random and long, so a
/// fast hash is enough (unlike passwords).
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Normalises an e-mail address for storage and comparison, or refuses it.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-key";

    #[test]
    fn hashes_in_kept_memory_are_the_same_hashes() {
        let mut memory = HashMemory::default();
        let kept = hash_password_in(&mut memory, "correct horse battery").expect("hash");
        assert!(kept.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{kept}");
        assert!(verify_password(&kept, "correct horse battery"), "the usual check accepts it");
        assert!(!verify_password(&kept, "correct horse battery!"));
        let usual = hash_password("correct horse battery").expect("hash");
        assert!(verify_password_in(&mut memory, &usual, "correct horse battery"));
        assert!(!verify_password_in(&mut memory, &usual, "wrong horse battery"));
        assert!(!verify_password_in(&mut memory, "not a hash", "x"));
        let other = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(
            !verify_password_in(&mut memory, other, "password"),
            "other parameters: checked the usual way"
        );
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "x"));
        assert_ne!(hash, hash_password("correct horse battery").expect("hash"), "salted");
        verify_nothing("anything");
    }

    #[test]
    fn password_policy() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(MAX_PASSWORD + 1)).is_err());
        assert!(check_password("ten chars!").is_ok());
    }

    #[test]
    fn weak_keys_are_refused() {
        assert!(matches!(JwtKeys::new(b"short", 900), Err(AuthError::WeakKey(_))));
        assert!(matches!(JwtKeys::new(&[b'a'; 64], 900), Err(AuthError::WeakKey(_))));
        assert!(matches!(JwtKeys::new(SECRET, 10), Err(AuthError::WeakKey(_))));
        assert!(JwtKeys::new(SECRET, 900).is_ok());
    }

    #[test]
    fn access_tokens_round_trip_and_expire() {
        let keys = JwtKeys::new(SECRET, 900).expect("keys");
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, claims) = keys.issue(user, "member", session).expect("issue");
        assert_eq!(keys.verify(&token).expect("valid"), claims);
        assert_eq!(claims.exp - claims.iat, 900);

        // Expired an hour ago.
        let old = Claims { iat: now_secs() - 7200, exp: now_secs() - 3600, ..claims.clone() };
        let expired =
            encode(&Header::new(jsonwebtoken::Algorithm::HS256), &old, &EncodingKey::from_secret(SECRET))
                .expect("encode");
        assert_eq!(keys.verify(&expired), Err(AuthError::InvalidToken));
    }

    #[test]
    fn forged_tampered_and_foreign_algorithm_tokens_are_refused() {
        let keys = JwtKeys::new(SECRET, 900).expect("keys");
        let (token, claims) = keys.issue(Uuid::now_v7(), "member", Uuid::now_v7()).expect("issue");
        // Another key.
        let other = JwtKeys::new(b"another-secret-key-for-testing-0123456789", 900).expect("keys");
        let (foreign, _) = other.issue(claims.sub, "admin", claims.sid).expect("issue");
        assert_eq!(keys.verify(&foreign), Err(AuthError::InvalidToken));
        // Payload changed to admin, signature kept.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let admin = Claims { role: "admin".into(), ..claims.clone() };
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).expect("json"));
        assert_eq!(keys.verify(&parts.join(".")), Err(AuthError::InvalidToken));
        // alg: none, no signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(keys.verify(&format!("{none_header}.{}.", parts[1])), Err(AuthError::InvalidToken));
        // HS512 with the right secret is still another algorithm.
        let hs512 =
            encode(&Header::new(jsonwebtoken::Algorithm::HS512), &claims, &EncodingKey::from_secret(SECRET))
                .expect("encode");
        assert_eq!(keys.verify(&hs512), Err(AuthError::InvalidToken));
        // A "refresh" typed token is not an access token.
        let refresh = Claims { typ: "refresh".into(), ..claims };
        let refresh =
            encode(&Header::new(jsonwebtoken::Algorithm::HS256), &refresh, &EncodingKey::from_secret(SECRET))
                .expect("encode");
        assert_eq!(keys.verify(&refresh), Err(AuthError::InvalidToken));
        for junk in ["", "a.b", "a.b.c", "....", "Bearer x"] {
            assert_eq!(keys.verify(junk), Err(AuthError::InvalidToken), "{junk}");
        }
    }

    #[test]
    fn secrets_are_random_and_stored_hashed() {
        let a = random_secret("ty_rt_").expect("secret");
        let b = random_secret("ty_rt_").expect("secret");
        assert_ne!(a, b);
        assert!(a.starts_with("ty_rt_") && a.len() > 40);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert_eq!(secret_hash(&a).len(), 64);
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(normalize_email("  Ada@Example.COM ").as_deref(), Some("ada@example.com"));
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@.com",
            "ada@ex@ample.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}
