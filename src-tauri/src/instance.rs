//! One app per data folder. A second launch normally never gets here: the single-instance
//! plugin hands its arguments to the first over D-Bus and exits, and the first shows its
//! window. Without a D-Bus session (some minimal desktops, a bare X server) that cannot work,
//! so the data folder is also locked, and a second app finds it locked and says so, instead
//! of starting a second server on the same database.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use nix::fcntl::{Flock, FlockArg};

/// Held while the app runs; the lock goes with the process, however it ends.
#[derive(Debug)]
pub struct Lock {
    _file: Flock<File>,
}

/// Takes the data folder's lock, or says which process holds it.
pub fn lock(data_dir: &Path) -> Result<Lock> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot make the data folder {}", data_dir.display()))?;
    let path = data_dir.join("desktop.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot write in the data folder {}", data_dir.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut locked) => {
            locked.set_len(0).ok();
            write!(locked, "{}", std::process::id()).ok();
            Ok(Lock { _file: locked })
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            bail!(
                "Taskyard is already open on this computer{}, with the data folder {}: use that window, or quit it first",
                if holder.is_empty() { String::new() } else { format!(" (process {holder})") },
                data_dir.display()
            )
        }
        Err((_, errno)) => bail!("cannot lock {}: {errno}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_folder_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        let error = lock(dir.path()).unwrap_err().to_string();
        assert!(error.contains("already open"), "{error}");
        assert!(error.contains(&format!("process {}", std::process::id())), "{error}");
        drop(first);
        lock(dir.path()).expect("free again once the first is gone");
    }
}
