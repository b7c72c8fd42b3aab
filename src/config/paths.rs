//! Where bapw keeps things: config (user presets, themes, settings), data (datasets, runs).
//! `BAPW_CONFIG_DIR` / `BAPW_DATA_DIR` override the platform folders from `directories`.
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "bapw")
}

pub fn config_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("BAPW_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    project_dirs()
        .map(|p| p.config_dir().to_path_buf())
        .ok_or_else(|| anyhow!("no home folder: set BAPW_CONFIG_DIR"))
}

pub fn data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("BAPW_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    project_dirs()
        .map(|p| p.data_dir().to_path_buf())
        .ok_or_else(|| anyhow!("no home folder: set BAPW_DATA_DIR"))
}

/// `<data>/datasets/<name>`, where `bapw data fetch` puts a dataset.
pub fn dataset_dir(name: &str) -> Result<PathBuf> {
    Ok(data_dir()?.join("datasets").join(name))
}

pub fn default_runs_dir() -> Result<PathBuf> {
    Ok(data_dir()?.join("runs"))
}

/// `--runs-dir` when given, else `<data dir>/runs`.
pub fn runs_dir_or_default(dir: Option<PathBuf>) -> Result<PathBuf> {
    dir.map(Ok).unwrap_or_else(default_runs_dir)
}

pub fn user_presets_dir() -> Result<PathBuf> {
    Ok(config_dir()?.join("presets"))
}

/// The shipped `presets/` folder of the source tree. Shipped presets are also compiled into the
/// binary (see `preset::SHIPPED`), so this is only used to show where they come from.
pub fn shipped_presets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("presets")
}

/// Rejects names that could escape their folder (`../x`, `a/b`, empty, hidden).
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "invalid {kind} name {name:?}: use letters, digits, '-', '_' and '.', not starting with '.'"
        ))
    }
}

/// The `*.toml` files directly in `dir`, sorted by name; none when it cannot be read (the
/// user's presets and themes folders need not exist).
pub fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// A temp-file builder whose files get the user's umask (0666 & !umask), like any file the
/// user creates, instead of tempfile's private 0600.
pub fn user_file_builder<'a>() -> tempfile::Builder<'a, 'static> {
    use std::os::unix::fs::PermissionsExt;
    let mut b = tempfile::Builder::new();
    b.prefix(".tmp-")
        .permissions(std::fs::Permissions::from_mode(0o666));
    b
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("creating {}: {e}", dir.display()))?;
    let mut tmp = user_file_builder()
        .tempfile_in(dir)
        .map_err(|e| anyhow!("writing into {}: {e}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow!("writing {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        for bad in ["", "../x", "a/b", ".hidden", "a\\b", "x y"] {
            assert!(check_name("run", bad).is_err(), "{bad:?}");
        }
        for good in ["mnist-bap", "run_2026.11.25", "a"] {
            assert!(check_name("run", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn atomic_writes_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.toml");
        write_atomic(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        // The process umask (read without changing it for good).
        let umask = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m
        } as u32;
        assert_eq!(mode, 0o666 & !umask);
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/x.toml");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
