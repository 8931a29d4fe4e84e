//! Durability of local publication. A file's data is synced before it is
//! published, but the link or rename that publishes it (and the directories
//! created for it) live in directory entries: a power loss after the call
//! returned could still lose them unless each changed directory is synced.
//! These helpers sync them, so a commit acknowledged to the caller stays.

use std::io;
use std::path::{Path, PathBuf};

/// Syncs a directory's entries to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing ancestors; syncs the parent of each
/// directory it created, so the new directories survive a power loss.
pub(crate) fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    std::fs::create_dir_all(dir)?;
    // From the outermost created directory inwards: its parent gained it.
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    #[test]
    fn creates_nested_directories_and_refuses_a_file_in_the_way() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b=1/c");
        create_dirs(&deep).unwrap();
        assert!(deep.is_dir());
        // Existing directories are fine, and a directory can be synced
        // (whether the sync reached the disk is not observable here).
        create_dirs(&deep).unwrap();
        sync_dir(&deep).unwrap();
        // A file in the way is an error, not a panic.
        std::fs::write(root.path().join("f"), b"x").unwrap();
        assert!(create_dirs(&root.path().join("f/g")).is_err());
    }
}
