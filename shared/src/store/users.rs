//! Team-mode storage shared by both backends: users, invites, refresh-token sessions, project
//! membership and the audit log. The SQL is the same text on SQLite and Postgres.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::UserId;

/// A refresh token to store (only its hash is kept).
#[derive(Clone, PartialEq, Eq)]
pub struct NewSessionToken {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// The session (family) it belongs to.
    pub family: Uuid,
    /// Its user.
    pub user: UserId,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for NewSessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSessionToken")
            .field("family", &self.family)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// What using a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was valid: it is now used, and its successor is stored.
    Rotated {
        /// Its user.
        user: UserId,
        /// Its session.
        family: Uuid,
    },
    /// It had been used (or revoked) before: someone replayed it, so the whole session was
    /// revoked.
    Reused {
        /// Its user.
        user: UserId,
        /// The session, now revoked.
        family: Uuid,
    },
    /// Unknown or expired.
    Invalid,
}

macro_rules! user_store_methods {
    () => {
        async fn count_users(&self) -> Result<i64> {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
        }

        async fn create_first_admin(&self, new: $crate::model::NewUser) -> Result<$crate::model::User> {
            let mut tx = self.pool.begin().await?;
            let id = $crate::model::UserId::new();
            // The singleton row is the lock: a second first-admin insert fails on its key.
            let claimed = sqlx::query("INSERT INTO first_admin (singleton, user_id) VALUES (1, $1)")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await;
            match claimed {
                Err(e) if $crate::store::is_unique_violation(&e) => {
                    return Err(StoreError::Conflict("registration needs an invite".into()));
                }
                other => {
                    other?;
                }
            }
            let user = Self::insert_user(&mut *tx, id, &new, $crate::model::Role::Admin).await?;
            tx.commit().await?;
            Ok(user)
        }

        async fn create_user(&self, new: $crate::model::NewUser) -> Result<$crate::model::User> {
            let mut conn = self.pool.acquire().await?;
            Self::insert_user(&mut *conn, $crate::model::UserId::new(), &new, new.role).await
        }

        async fn get_user(&self, id: $crate::model::UserId) -> Result<$crate::model::User> {
            let row = sqlx::query_as::<_, $crate::model::User>(
                "SELECT id, email, name, role, disabled, created_at, updated_at FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            $crate::store::found(row, "user", id)
        }

        async fn find_user_by_email(&self, email: &str) -> Result<Option<$crate::model::UserRecord>> {
            Ok(sqlx::query_as::<_, $crate::model::UserRecord>("SELECT * FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn get_user_record(&self, id: $crate::model::UserId) -> Result<$crate::model::UserRecord> {
            let row = sqlx::query_as::<_, $crate::model::UserRecord>("SELECT * FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            $crate::store::found(row, "user", id)
        }

        async fn list_users(&self) -> Result<Vec<$crate::model::User>> {
            Ok(sqlx::query_as::<_, $crate::model::User>(
                "SELECT id, email, name, role, disabled, created_at, updated_at FROM users ORDER BY created_at, id",
            )
            .fetch_all(&self.pool)
            .await?)
        }

        async fn update_user(
            &self,
            id: $crate::model::UserId,
            patch: $crate::model::UserPatch,
        ) -> Result<$crate::model::User> {
            if let Some(name) = &patch.name {
                $crate::store::check_text("name", name)?;
            }
            let row = sqlx::query_as::<_, $crate::model::User>(
                "UPDATE users SET
                    name          = COALESCE($2, name),
                    role          = COALESCE($3, role),
                    disabled      = COALESCE($4, disabled),
                    password_hash = COALESCE($5, password_hash),
                    updated_at    = $6
                 WHERE id = $1
                 RETURNING id, email, name, role, disabled, created_at, updated_at",
            )
            .bind(id)
            .bind(&patch.name)
            .bind(patch.role.map(|r| r.as_str()))
            .bind(patch.disabled)
            .bind(&patch.password_hash)
            .bind($crate::store::now())
            .fetch_optional(&self.pool)
            .await?;
            $crate::store::found(row, "user", id)
        }

        async fn delete_user(&self, id: $crate::model::UserId) -> Result<()> {
            let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&self.pool).await?;
            $crate::store::found((done.rows_affected() > 0).then_some(()), "user", id)
        }

        async fn create_invite(&self, new: $crate::model::NewInvite) -> Result<$crate::model::Invite> {
            if let Some(email) = &new.email {
                $crate::store::check_text("email", email)?;
            }
            Ok(sqlx::query_as::<_, $crate::model::Invite>(
                "INSERT INTO invites (id, code_hash, email, role, created_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 RETURNING id, email, role, created_by, created_at, expires_at, used_at, used_by, revoked_at",
            )
            .bind($crate::model::InviteId::new())
            .bind(&new.code_hash)
            .bind(&new.email)
            .bind(new.role.as_str())
            .bind(new.created_by)
            .bind($crate::store::now())
            .bind(new.expires_at)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn list_invites(&self) -> Result<Vec<$crate::model::Invite>> {
            Ok(sqlx::query_as::<_, $crate::model::Invite>(
                "SELECT id, email, role, created_by, created_at, expires_at, used_at, used_by, revoked_at
                 FROM invites ORDER BY created_at DESC, id DESC",
            )
            .fetch_all(&self.pool)
            .await?)
        }

        async fn revoke_invite(&self, id: $crate::model::InviteId) -> Result<$crate::model::Invite> {
            let row = sqlx::query_as::<_, $crate::model::Invite>(
                "UPDATE invites SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 AND used_at IS NULL
                 RETURNING id, email, role, created_by, created_at, expires_at, used_at, used_by, revoked_at",
            )
            .bind(id)
            .bind($crate::store::now())
            .fetch_optional(&self.pool)
            .await?;
            match row {
                Some(invite) => Ok(invite),
                None => {
                    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invites WHERE id = $1")
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await?;
                    if exists > 0 {
                        Err(StoreError::Conflict("the invite was already used".into()))
                    } else {
                        Err(StoreError::NotFound { entity: "invite", id: id.to_string() })
                    }
                }
            }
        }

        async fn can_register(&self, code_hash: Option<&str>, email: &str) -> Result<bool> {
            let n: i64 = match code_hash {
                Some(code_hash) => sqlx::query_scalar(
                    "SELECT COUNT(*) FROM invites
                     WHERE code_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                       AND (email IS NULL OR email = $3)",
                )
                .bind(code_hash)
                .bind($crate::store::now())
                .bind(email)
                .fetch_one(&self.pool)
                .await?,
                None => {
                    let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM first_admin")
                        .fetch_one(&self.pool)
                        .await?;
                    i64::from(taken == 0)
                }
            };
            Ok(n > 0)
        }

        async fn register_with_invite(
            &self,
            code_hash: &str,
            new: $crate::model::NewUser,
        ) -> Result<$crate::model::User> {
            let now = $crate::store::now();
            let mut tx = self.pool.begin().await?;
            let id = $crate::model::UserId::new();
            // Claim the invite first (a write), so two registrations with one code cannot both
            // pass: the second finds it used.
            let role: Option<String> = sqlx::query_scalar(
                "UPDATE invites SET used_at = $2
                 WHERE code_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                   AND (email IS NULL OR email = $3)
                 RETURNING role",
            )
            .bind(code_hash)
            .bind(now)
            .bind(&new.email)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(role) = role else {
                return Err(StoreError::Invalid("invalid invite".into()));
            };
            let role: $crate::model::Role =
                role.parse().map_err(|e: $crate::model::UnknownValue| StoreError::Invalid(e.to_string()))?;
            let user = Self::insert_user(&mut *tx, id, &new, role).await?;
            sqlx::query("UPDATE invites SET used_by = $2 WHERE code_hash = $1")
                .bind(code_hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(user)
        }

        async fn create_session_token(&self, token: $crate::store::NewSessionToken) -> Result<()> {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&token.token_hash)
            .bind(token.family)
            .bind(token.user)
            .bind($crate::store::now())
            .bind(token.expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn rotate_session_token(
            &self,
            old_hash: &str,
            next: $crate::store::NewSessionToken,
        ) -> Result<$crate::store::Rotation> {
            let now = $crate::store::now();
            let mut tx = self.pool.begin().await?;
            // Mark it used first (a write): of two concurrent uses, only one can do this.
            let claimed: Option<($crate::model::UserId, uuid::Uuid)> = sqlx::query_as(
                "UPDATE refresh_tokens SET used_at = $2
                 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                 RETURNING user_id, family_id",
            )
            .bind(old_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((user, family)) = claimed {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&next.token_hash)
                .bind(family)
                .bind(user)
                .bind(now)
                .bind(next.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok($crate::store::Rotation::Rotated { user, family });
            }
            let known: Option<($crate::model::UserId, uuid::Uuid, Option<DateTime<Utc>>, Option<DateTime<Utc>>)> =
                sqlx::query_as(
                    "SELECT user_id, family_id, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
            match known {
                Some((user, family, used, revoked)) if used.is_some() || revoked.is_some() => {
                    sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                        .bind(family)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok($crate::store::Rotation::Reused { user, family })
                }
                _ => Ok($crate::store::Rotation::Invalid),
            }
        }

        async fn session_active(&self, family: uuid::Uuid, user: $crate::model::UserId) -> Result<bool> {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM refresh_tokens
                 WHERE family_id = $1 AND user_id = $3
                   AND revoked_at IS NULL AND used_at IS NULL AND expires_at > $2",
            )
            .bind(family)
            .bind($crate::store::now())
            .bind(user)
            .fetch_one(&self.pool)
            .await?;
            Ok(n > 0)
        }

        async fn revoke_session(&self, family: uuid::Uuid) -> Result<()> {
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                .bind(family)
                .bind($crate::store::now())
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn revoke_user_sessions(&self, user: $crate::model::UserId) -> Result<()> {
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(user)
                .bind($crate::store::now())
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn set_member(
            &self,
            project: ProjectId,
            user: $crate::model::UserId,
            role: $crate::model::ProjectRole,
        ) -> Result<()> {
            self.get_project(project).await?;
            self.get_user(user).await?;
            sqlx::query(
                "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(project)
            .bind(user)
            .bind(role.as_str())
            .bind($crate::store::now())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn remove_member(&self, project: ProjectId, user: $crate::model::UserId) -> Result<()> {
            let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project)
                .bind(user)
                .execute(&self.pool)
                .await?;
            $crate::store::found((done.rows_affected() > 0).then_some(()), "member", user)
        }

        async fn list_members(&self, project: ProjectId) -> Result<Vec<$crate::model::Member>> {
            Ok(sqlx::query_as::<_, $crate::model::Member>(
                "SELECT m.user_id, u.email, u.name, m.role FROM project_members m JOIN users u ON u.id = m.user_id
                 WHERE m.project_id = $1 ORDER BY m.added_at, u.email",
            )
            .bind(project)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn project_role(
            &self,
            project: ProjectId,
            user: $crate::model::UserId,
        ) -> Result<Option<$crate::model::ProjectRole>> {
            let role: Option<String> =
                sqlx::query_scalar("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2")
                    .bind(project)
                    .bind(user)
                    .fetch_optional(&self.pool)
                    .await?;
            role.map(|r| r.parse().map_err(|e: $crate::model::UnknownValue| StoreError::Invalid(e.to_string())))
                .transpose()
        }

        async fn put_credential(
            &self,
            tier: $crate::credentials::Tier,
            scope: uuid::Uuid,
            key: &str,
            encrypted: &str,
            locked: bool,
            by: Option<$crate::model::UserId>,
        ) -> Result<$crate::credentials::StoredCredential> {
            Ok(sqlx::query_as::<_, $crate::credentials::StoredCredential>(
                "INSERT INTO credentials (id, tier, scope_id, key, value, locked, updated_by, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (tier, scope_id, key) DO UPDATE
                 SET value = excluded.value, locked = excluded.locked,
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at
                 RETURNING *",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(tier.as_str())
            .bind(scope)
            .bind(key)
            .bind(encrypted)
            .bind(locked)
            .bind(by)
            .bind($crate::store::now())
            .fetch_one(&self.pool)
            .await?)
        }

        async fn delete_credential(&self, tier: $crate::credentials::Tier, scope: uuid::Uuid, key: &str) -> Result<()> {
            let done = sqlx::query("DELETE FROM credentials WHERE tier = $1 AND scope_id = $2 AND key = $3")
                .bind(tier.as_str())
                .bind(scope)
                .bind(key)
                .execute(&self.pool)
                .await?;
            $crate::store::found((done.rows_affected() > 0).then_some(()), "credential", key)
        }

        async fn list_credentials(
            &self,
            tier: $crate::credentials::Tier,
            scope: uuid::Uuid,
        ) -> Result<Vec<$crate::credentials::StoredCredential>> {
            Ok(sqlx::query_as::<_, $crate::credentials::StoredCredential>(
                "SELECT * FROM credentials WHERE tier = $1 AND scope_id = $2 ORDER BY key",
            )
            .bind(tier.as_str())
            .bind(scope)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn all_credentials(&self) -> Result<Vec<$crate::credentials::StoredCredential>> {
            Ok(sqlx::query_as::<_, $crate::credentials::StoredCredential>("SELECT * FROM credentials ORDER BY id")
                .fetch_all(&self.pool)
                .await?)
        }

        async fn reencrypt_credential(&self, id: uuid::Uuid, encrypted: &str) -> Result<()> {
            sqlx::query("UPDATE credentials SET value = $2 WHERE id = $1")
                .bind(id)
                .bind(encrypted)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn get_setting(&self, key: &str) -> Result<Option<String>> {
            Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value)
            .bind($crate::store::now())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn append_audit(&self, e: $crate::model::AuditEntry) -> Result<()> {
            sqlx::query(
                "INSERT INTO audit_log (id, at, actor_id, actor, action, target, ip, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(e.id)
            .bind(e.at)
            .bind(e.actor_id)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.ip)
            .bind(&e.details)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_audit(&self, before: Option<uuid::Uuid>, limit: usize) -> Result<Vec<$crate::model::AuditEntry>> {
            let limit = limit.clamp(1, 1000) as i64;
            Ok(sqlx::query_as::<_, $crate::model::AuditEntry>(
                "SELECT * FROM audit_log WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }
    };
}
pub(crate) use user_store_methods;

/// The user insert both `create_*` paths share, with the duplicate e-mail made a `Conflict`.
macro_rules! insert_user_fn {
    ($db:ty) => {
        async fn insert_user(
            conn: &mut <$db as sqlx::Database>::Connection,
            id: $crate::model::UserId,
            new: &$crate::model::NewUser,
            role: $crate::model::Role,
        ) -> Result<$crate::model::User> {
            $crate::store::check_text("email", &new.email)?;
            $crate::store::check_text("name", &new.name)?;
            let now = $crate::store::now();
            let res = sqlx::query_as::<_, $crate::model::User>(
                "INSERT INTO users (id, email, name, password_hash, role, disabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 RETURNING id, email, name, role, disabled, created_at, updated_at",
            )
            .bind(id)
            .bind(&new.email)
            .bind(&new.name)
            .bind(&new.password_hash)
            .bind(role.as_str())
            .bind(false)
            .bind(now)
            .fetch_one(&mut *conn)
            .await;
            match res {
                Err(e) if $crate::store::is_unique_violation(&e) => {
                    Err(StoreError::Conflict("an account with this e-mail exists".into()))
                }
                other => Ok(other?),
            }
        }
    };
}
pub(crate) use insert_user_fn;
