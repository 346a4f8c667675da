//! Test helpers shared by this crate's integration tests.

use std::path::{Path, PathBuf};

/// A fresh folder under the system temporary directory, removed when dropped (also when the test
/// fails), named after the test so parallel tests never share one.
pub struct Scratch(PathBuf);

pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("prefopt-data-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary folder");
    Scratch(dir)
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
