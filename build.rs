//! Adds an rpath to LibTorch's `lib/` folder so `bapw` (and the test binaries) run without
//! `LD_LIBRARY_PATH`. torch-sys finds and links LibTorch itself; this only records where it is.
//! With `BAPW_GPU_BUILD` set (the GPU machine's build) it links libtorch_cuda instead.
use std::path::PathBuf;
use std::process::Command;

fn libtorch_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir));
    }
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
        let out = Command::new(python)
            .args([
                "-c",
                "import torch, os; print(os.path.dirname(torch.__file__))",
            ])
            .output()
            .ok()?;
        if out.status.success() {
            return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    None
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=BAPW_GPU_BUILD");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("BAPW_GPU_BUILD").is_some() {
        // The GPU machine's binary (scripts/build-gpu-binary.sh). bapw calls nothing in
        // libtorch_cuda, so the linker's --as-needed drops it and LibTorch then never sees
        // CUDA; libtorch.so needs it, and linking that with --no-as-needed loads it. No rpath:
        // that machine's torch is found through LD_LIBRARY_PATH.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        return;
    }
    if let Some(dir) = libtorch_dir() {
        let lib = dir.join("lib");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    } else {
        println!(
            "cargo:warning=LIBTORCH is not set: the binary will need LD_LIBRARY_PATH (use `make build`)"
        );
    }
}
