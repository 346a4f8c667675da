//! Checks of an output folder before long work starts: that it can be written, and that its
//! file system has room for what the command will write (checkpoints above all), so that a
//! read-only or full disk is an error in the first second rather than after an hour.

use std::path::Path;

use crate::error::{ExperimentError, Result};

/// Creates `out` and writes (then removes) a probe file in it.
pub fn check_writable(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| unwritable(out, e))?;
    let probe = out.join(format!(".prefopt-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"prefopt").map_err(|e| unwritable(out, e))?;
    std::fs::remove_file(&probe).map_err(|e| unwritable(out, e))
}

/// Deletes the temporaries a killed command left in `out` (`<name>.<pid>-<n>.tmp`, hidden or
/// not: the workspace's atomic writes and burn-store's), so a resumed command's folder holds
/// only complete files.
pub fn remove_stale_temporaries(out: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| ExperimentError::io(&path, e))?;
        if kind.is_dir() {
            remove_stale_temporaries(&path)?;
        } else if kind.is_file() && is_temporary(&entry.file_name().to_string_lossy()) {
            std::fs::remove_file(&path).map_err(|e| ExperimentError::io(&path, e))?;
        }
    }
    Ok(())
}

/// `<name>.<pid>-<n>.tmp`.
fn is_temporary(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".tmp") else {
        return false;
    };
    let Some((_, tag)) = stem.rsplit_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    tag.split_once('-')
        .is_some_and(|(pid, n)| digits(pid) && digits(n))
}

fn unwritable(out: &Path, source: std::io::Error) -> ExperimentError {
    ExperimentError::Invalid(format!(
        "the output folder {} cannot be written: {source}",
        out.display()
    ))
}

/// Refuses to start when the file system of `out` has less than `needed` bytes free for
/// `what` (the estimate is the caller's: checkpoint sizes follow from the parameter count).
pub fn check_space(out: &Path, needed: u64, what: &str) -> Result<()> {
    match available_bytes(out) {
        Some(free) if free < needed => Err(ExperimentError::Invalid(format!(
            "{} has {} free, and {what} need about {}: free some space or choose another --out",
            out.display(),
            human(free),
            human(needed)
        ))),
        _ => Ok(()),
    }
}

/// Bytes an unprivileged process may still write on the file system holding `path` (`None`
/// where it cannot be asked).
#[cfg(unix)]
pub fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `name` is a NUL-terminated path and `stats` a buffer statvfs fills on success.
    let status = unsafe { libc::statvfs(name.as_ptr(), stats.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `stats`.
    let stats = unsafe { stats.assume_init() };
    // The fields are u64 on Linux x86-64 and narrower on other targets.
    #[allow(clippy::unnecessary_cast)]
    let (blocks, block_size) = (stats.f_bavail as u64, stats.f_frsize as u64);
    Some(blocks.saturating_mul(block_size))
}

#[cfg(not(unix))]
pub fn available_bytes(_path: &Path) -> Option<u64> {
    None
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// What a run's trainer checkpoints take: the weights (f32) and AdamW's two moments of the
/// trainable ones, in `checkpoint.safetensors` and `best.safetensors`, plus the one being
/// written beside them.
pub fn checkpoint_bytes(parameters: usize, trainable: usize) -> u64 {
    let one = (parameters as u64 * 4).saturating_add(trainable as u64 * 8);
    one.saturating_mul(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_under_a_file_is_refused_and_space_is_measured() {
        let dir = std::env::temp_dir().join(format!("prefopt-output-{}", std::process::id()));
        check_writable(&dir).unwrap();
        assert!(
            std::fs::read_dir(&dir).unwrap().next().is_none(),
            "no probe left"
        );
        let file = dir.join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let error = check_writable(&file.join("out")).unwrap_err().to_string();
        assert!(error.contains("cannot be written"), "{error}");
        assert!(available_bytes(&dir).is_some_and(|b| b > 0));
        let error = check_space(&dir, u64::MAX, "the checkpoints")
            .unwrap_err()
            .to_string();
        assert!(error.contains("the checkpoints need about"), "{error}");
        check_space(&dir, 1, "a byte").unwrap();
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        for name in [
            ".policy.safetensors.41-0.tmp",
            "logs/model.safetensors.7-12.tmp",
        ] {
            std::fs::write(dir.join(name), b"half").unwrap();
        }
        std::fs::write(dir.join("notes.tmp"), b"mine").unwrap();
        remove_stale_temporaries(&dir).unwrap();
        assert!(!dir.join(".policy.safetensors.41-0.tmp").exists());
        assert!(!dir.join("logs/model.safetensors.7-12.tmp").exists());
        assert!(dir.join("notes.tmp").exists(), "not a temporary of ours");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
