//! Atomic file creation: write to a hidden temporary file beside the target, flush it to disk,
//! then rename it over the target.
//!
//! A rename within one directory is atomic on POSIX file systems, so a reader — or a resumed
//! run after `kill -9` — sees either the old file, or no file, or the complete new one: never a
//! truncated Parquet file that happens to end in a valid footer, nor half a report. A failed
//! write leaves at most the temporary file, which the guard deletes when it is dropped without
//! being committed; a killed process leaves a hidden `.<name>.<pid>-<n>.tmp` that no reader
//! opens. Every file the workspace's commands write goes through here (the user-models crate,
//! which has no data dependency, does the same in its own `tensor_file`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DataError, Result};

/// A temporary file that becomes `target` on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temporary: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file (and the target's parent folders) and returns it with its guard.
    pub fn create(target: &Path) -> Result<(Self, File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| DataError::io(&parent, e))?;
        let name = target
            .file_name()
            .ok_or_else(|| {
                DataError::parameter("output", format!("{target:?} is not a file path"))
            })?
            .to_string_lossy();
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temporary = parent.join(format!(".{name}.{}-{unique}.tmp", std::process::id()));
        // Errors name the file being written, not its hidden temporary.
        let file = File::create(&temporary).map_err(|e| DataError::io(target, e))?;
        let guard = Self {
            target: target.to_path_buf(),
            temporary,
            committed: false,
        };
        Ok((guard, file))
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes `file` to disk and renames it over the target.
    pub fn commit(mut self, file: File) -> Result<()> {
        file.sync_all()
            .map_err(|e| DataError::io(&self.target, e))?;
        drop(file);
        fault::kill_point(&self.target);
        std::fs::rename(&self.temporary, &self.target)
            .map_err(|e| DataError::io(&self.target, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the file may not exist if creation itself failed half-way.
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let (guard, mut file) = AtomicFile::create(path)?;
    file.write_all(bytes.as_ref())
        .map_err(|e| DataError::io(&guard.target, e))?;
    guard.commit(file)
}

/// Fault injection for the kill tests, which must stop the real binary at the one instant a
/// poll from outside cannot hit: `PREFOPT_KILL_BEFORE_RENAME=<file name>:<n>` sends the process
/// SIGKILL at the `n`-th commit of a file of that name, when its temporary is complete on disk
/// and the target not yet replaced. Unset (always, outside those tests) it costs one cached
/// environment lookup per file written.
mod fault {
    use std::path::Path;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const VARIABLE: &str = "PREFOPT_KILL_BEFORE_RENAME";

    fn planned() -> Option<&'static (String, usize)> {
        static PLAN: OnceLock<Option<(String, usize)>> = OnceLock::new();
        PLAN.get_or_init(|| {
            let value = std::env::var(VARIABLE).ok()?;
            let (name, count) = value.rsplit_once(':')?;
            Some((name.to_string(), count.parse().ok()?))
        })
        .as_ref()
    }

    pub(super) fn kill_point(target: &Path) {
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        let Some((name, count)) = planned() else {
            return;
        };
        if target.file_name().is_some_and(|n| n == name.as_str())
            && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *count
        {
            #[cfg(unix)]
            // SAFETY: kill(2) on this process's own id; it does not return.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            #[cfg(not(unix))]
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_whole_and_an_uncommitted_one_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("prefopt-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.bin");
        write(&target, b"old").unwrap();
        let (guard, mut file) = AtomicFile::create(&target).unwrap();
        file.write_all(b"half").unwrap();
        drop(guard);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        write(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "only the target remains");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
