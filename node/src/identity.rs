//! The node's ed25519 identity: created on first run in the data dir
//! (mode 0600) and reused afterwards. A key file that cannot be read or
//! decoded stops the node with a message naming the file; it is never
//! overwritten.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::{KeyType, Keypair};
use thiserror::Error;

/// Name of the key file inside the data dir.
pub const KEY_FILE: &str = "identity.key";

/// Why the identity could not be loaded or created.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The data dir could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file exists but cannot be read.
    #[error("cannot read identity key {path}: {source}; refusing to start")]
    Read {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file is not a valid ed25519 libp2p key.
    #[error(
        "identity key {path} is corrupt ({reason}); refusing to start. It was left untouched: \
         restore it from a backup, or move it away to start with a new identity"
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The new key could not be written.
    #[error("cannot write identity key {path}: {source}")]
    Write {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Load the key from `data_dir`, or create it if there is none.
/// Returns the key and whether it was created now.
pub fn load_or_create(data_dir: &Path) -> Result<(Keypair, bool), IdentityError> {
    let path = data_dir.join(KEY_FILE);
    match fs::read(&path) {
        Ok(bytes) => Ok((decode(&path, &bytes)?, false)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok((create(data_dir, &path)?, true)),
        Err(source) => Err(IdentityError::Read { path, source }),
    }
}

fn decode(path: &Path, bytes: &[u8]) -> Result<Keypair, IdentityError> {
    let corrupt = |reason: String| IdentityError::Corrupt { path: path.to_path_buf(), reason };
    if bytes.is_empty() {
        return Err(corrupt("the file is empty".into()));
    }
    let key = Keypair::from_protobuf_encoding(bytes).map_err(|e| corrupt(e.to_string()))?;
    if key.key_type() != KeyType::Ed25519 {
        return Err(corrupt(format!("it holds a {:?} key, dhtr needs ed25519", key.key_type())));
    }
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "identity key is readable by other users; chmod 600 it");
    }
    Ok(key)
}

fn create(data_dir: &Path, path: &Path) -> Result<Keypair, IdentityError> {
    fs::create_dir_all(data_dir).map_err(|source| IdentityError::DataDir { path: data_dir.to_path_buf(), source })?;
    let key = Keypair::generate_ed25519();
    let write_err = |source| IdentityError::Write { path: path.to_path_buf(), source };
    let bytes = key.to_protobuf_encoding().map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
    create_file(path, &bytes, 0o600).map_err(write_err)?;
    Ok(key)
}

/// Write `bytes` to a new file with permissions `mode` and sync it. Never
/// overwrites: a file that exists (or appeared meanwhile) is an
/// `AlreadyExists` error. Every file a node or its tools create in a data
/// dir (keys, work, certificates, revocations) is written this way.
pub fn create_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_with_mode_0600() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (a, created) = load_or_create(dir.path())?;
        assert!(created);
        let mode = fs::metadata(dir.path().join(KEY_FILE))?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, created) = load_or_create(dir.path())?;
        assert!(!created);
        assert_eq!(a.public(), b.public());
        Ok(())
    }

    #[test]
    fn corrupt_key_is_refused_and_left_alone() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(KEY_FILE);
        fs::write(&path, b"not a key")?;
        let err = load_or_create(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("identity.key") && err.contains("corrupt"), "{err}");
        assert_eq!(fs::read(&path)?, b"not a key");
        Ok(())
    }
}
