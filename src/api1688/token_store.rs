//! The refresh token of each account, kept in the state directory: one JSON file per
//! account, readable by the service user only (0600 in a 0700 folder), replaced
//! atomically (temporary file, fsync, rename). Never in the shared ERP database.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// What is kept about an account's authorization.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredToken {
    #[serde(with = "secret_text")]
    pub refresh_token: SecretString,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// Who authorized the app (`resource_owner`, the 1688 login) and their member id.
    pub resource_owner: Option<String>,
    pub member_id: Option<String>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Fingerprint of the configured refresh token this file last saw: when the
    /// configuration brings a different token, the configuration is newer.
    pub config_token_sha1: Option<String>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .field("resource_owner", &self.resource_owner)
            .field("member_id", &self.member_id)
            .finish_non_exhaustive()
    }
}

mod secret_text {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose_secret())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }
}

/// The fingerprint of a token, so that the file can tell whether the configured one
/// changed without keeping a second copy of it.
pub fn fingerprint(token: &SecretString) -> String {
    hex::encode(Sha1::digest(token.expose_secret().as_bytes()))
}

/// Token files under `<state_dir>/tokens/`.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenStoreError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a token file ({message}); reconnect the account")]
    Corrupt { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl TokenStore {
    pub fn new(state_dir: &Path) -> Self {
        TokenStore {
            dir: state_dir.join("tokens"),
        }
    }

    pub fn path(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{account}.json"))
    }

    pub fn load(&self, account: &str) -> Result<Option<StoredToken>, TokenStoreError> {
        let path = self.path(account);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TokenStoreError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| TokenStoreError::Corrupt {
                path: path.display().to_string(),
                // The position only: the text holds the token.
                message: format!("line {} column {}", e.line(), e.column()),
            })
    }

    /// Replaces the account's file atomically; the folder is created 0700 and the file
    /// 0600, so that only the service user can read the token.
    pub fn save(&self, account: &str, token: &StoredToken) -> Result<(), TokenStoreError> {
        let path = self.path(account);
        let write_err = |source| TokenStoreError::Write {
            path: path.display().to_string(),
            source,
        };
        create_private_dir(&self.dir).map_err(write_err)?;
        let text = serde_json::to_vec_pretty(token).expect("a token serialises");
        let tmp = self
            .dir
            .join(format!(".{account}.json.{}.tmp", std::process::id()));
        let result = (|| {
            let mut file = private_file(&tmp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            // The rename is durable only once the folder is.
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write_err)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(value: &str) -> StoredToken {
        StoredToken {
            refresh_token: SecretString::from(value.to_owned()),
            refresh_token_expires_at: None,
            access_token_expires_at: None,
            resource_owner: Some("沙箱买家".into()),
            member_id: Some("b2b-1".into()),
            authorized_at: None,
            updated_at: Utc::now(),
            config_token_sha1: None,
        }
    }

    #[test]
    fn a_saved_token_reads_back_from_a_file_only_its_owner_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        assert!(store.load("main").unwrap().is_none());
        store.save("main", &token("r-1")).unwrap();
        store.save("main", &token("r-2")).unwrap();
        let back = store.load("main").unwrap().unwrap();
        assert_eq!(back.refresh_token.expose_secret(), "r-2");
        assert_eq!(back.resource_owner.as_deref(), Some("沙箱买家"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path("main"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(dir.path().join("tokens"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        let leftovers = std::fs::read_dir(dir.path().join("tokens"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn a_damaged_file_is_an_error_that_does_not_show_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("tokens")).unwrap();
        std::fs::write(store.path("main"), "{\"refresh_token\":\"secret-part").unwrap();
        let err = store.load("main").unwrap_err().to_string();
        assert!(
            err.contains("reconnect") && !err.contains("secret-part"),
            "{err}"
        );
        assert!(format!("{:?}", token("hidden")).contains("StoredToken"));
        assert!(!format!("{:?}", token("hidden")).contains("hidden"));
    }
}
