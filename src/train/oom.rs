//! Out of memory is a message with a batch size to try, not a crash. LibTorch reports an
//! allocation it cannot make as an error, and tch's infallible methods (`forward`, `matmul`,
//! ...) turn that error into a panic. So the engine runs its batch-sized work (a training
//! step, a robustness evaluation) under [`guard`], which recognises the allocators' texts
//! whether they come back as an error or as a panic, and lets every other panic go on.
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use anyhow::Result;

/// An allocation failed: the text is for the user (see [`advice`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OutOfMemory(pub String);

impl std::fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutOfMemory {}

/// What [`guard`] gives back.
#[derive(Debug)]
pub enum Guarded<T> {
    Done(T),
    /// An allocation failed; LibTorch's text.
    OutOfMemory(String),
}

/// Whether LibTorch's text says an allocation failed: the CPU allocator ("DefaultCPUAllocator:
/// can't allocate memory" from a failed `posix_memalign`, "not enough memory" from older
/// builds), CUDA's caching allocator ("CUDA out of memory. Tried to allocate ..."), a plain
/// "CUDA error: out of memory", cuBLAS / cuDNN workspaces, and C++'s `std::bad_alloc`.
pub fn is_out_of_memory(text: &str) -> bool {
    const MARKS: &[&str] = &[
        "defaultcpuallocator: can't allocate memory",
        "defaultcpuallocator: not enough memory",
        "out of memory",
        "cublas_status_alloc_failed",
        "cudnn_status_alloc_failed",
        "std::bad_alloc",
    ];
    let lower = text.to_ascii_lowercase();
    MARKS.iter().any(|m| lower.contains(m))
}

/// How much the failed allocation asked for, as the user reads it ("64.0 GiB"): the CPU
/// allocator gives bytes ("you tried to allocate 68719476736 bytes"), CUDA's a size with its
/// unit ("Tried to allocate 2.00 GiB").
pub fn requested(text: &str) -> Option<String> {
    if let Some(rest) = text.split("you tried to allocate ").nth(1) {
        let bytes: u64 = rest.split_whitespace().next()?.parse().ok()?;
        return Some(human_bytes(bytes));
    }
    let mut words = text.split("Tried to allocate ").nth(1)?.split_whitespace();
    let (number, unit) = (words.next()?, words.next()?);
    Some(format!(
        "{number} {}",
        unit.trim_end_matches(['.', ',', ';', ')'])
    ))
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The message for an allocation that failed at `batch` examples of the setting `key`
/// (`train.batch_size`, `eval.batch_size`), or outside batch-sized work when `batch` is None.
pub fn advice(device: &str, batch: Option<(&str, usize)>, text: &str) -> String {
    let asked = requested(text)
        .map(|r| format!(" (LibTorch could not allocate {r})"))
        .unwrap_or_default();
    match batch {
        Some((key, n)) if n > 1 => format!(
            "out of memory on {device} at batch size {n}: try --set {key}={}{asked}",
            n / 2
        ),
        Some((_, n)) => format!(
            "out of memory on {device} at batch size {n}{asked}: a single example does not \
             fit; try a smaller model or another device"
        ),
        None => format!(
            "out of memory on {device}{asked}: try a smaller model or dataset, or another device"
        ),
    }
}

thread_local! {
    /// Set while an out-of-memory panic on this thread is expected and will be reported: the
    /// panic hook then leaves it to the log instead of printing a backtrace on the terminal.
    static REPORTED: Cell<bool> = const { Cell::new(false) };
}

/// Marks every out-of-memory panic on this thread (the engine thread, which catches and
/// reports them) as reported.
pub fn report_on_this_thread() {
    install_hook();
    REPORTED.set(true);
}

/// Runs `f`; an allocation failure, returned as an error or raised as a panic, comes back as
/// [`Guarded::OutOfMemory`]. Other errors are returned as they are, other panics go on
/// unwinding. Unwinding out of tch is safe: its C++ exceptions are turned into Rust errors
/// before they reach Rust frames, and the half-built autograd graph is dropped with them.
pub fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<Guarded<T>> {
    install_hook();
    let was = REPORTED.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    REPORTED.set(was);
    match result {
        Ok(Ok(v)) => Ok(Guarded::Done(v)),
        Ok(Err(e)) => {
            let text = format!("{e:#}");
            if is_out_of_memory(&text) {
                Ok(Guarded::OutOfMemory(text))
            } else {
                Err(e)
            }
        }
        Err(p) => {
            let text = panic_text(&*p);
            if is_out_of_memory(&text) {
                Ok(Guarded::OutOfMemory(text))
            } else {
                panic::resume_unwind(p)
            }
        }
    }
}

/// The text of a panic payload (`panic!` with a message or a format string).
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let oom = is_out_of_memory(&panic_text(info.payload()));
            if oom && REPORTED.get() {
                tracing::warn!("allocation failed (reported to the user): {info}");
                return;
            }
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    /// What LibTorch 2.13's CPU allocator said when bapw asked it for 64 GiB under
    /// `ulimit -v` (trimmed C++ backtrace), as tch's panic carries it.
    const CPU: &str = "called `Result::unwrap()` on an `Err` value: Torch(\"[enforce fail at \
        alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to \
        allocate 68719476736 bytes. Error code 12 (Cannot allocate memory)\\nframe #0: \
        c10::ThrowEnforceNotMet(...)\")";
    /// Older CPU builds.
    const CPU_OLD: &str = "DefaultCPUAllocator: not enough memory: you tried to allocate \
        1099511627776 bytes.";
    /// CUDA's caching allocator, PyTorch 2.x and 1.x wording.
    const CUDA: &str = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total \
        capacity of 79.15 GiB of which 1.05 GiB is free. Of the allocated memory 75.2 GiB is \
        allocated by PyTorch";
    const CUDA_OLD: &str = "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB \
        total capacity; 6.12 GiB already allocated; 3.50 MiB free)";
    const CUDA_PLAIN: &str = "CUDA error: out of memory\nCUDA kernel errors might be \
        asynchronously reported at some other API call";

    #[test]
    fn recognises_the_allocators_texts() {
        for t in [CPU, CPU_OLD, CUDA, CUDA_OLD, CUDA_PLAIN, "std::bad_alloc"] {
            assert!(is_out_of_memory(t), "{t}");
        }
        for t in [
            "shape '[64, 10]' is invalid for input of size 100",
            "mat1 and mat2 shapes cannot be multiplied (64x64 and 32x10)",
            "CUDA error: device-side assert triggered",
        ] {
            assert!(!is_out_of_memory(t), "{t}");
        }
    }

    #[test]
    fn reads_how_much_was_asked_for() {
        assert_eq!(requested(CPU).as_deref(), Some("64.0 GiB"));
        assert_eq!(requested(CPU_OLD).as_deref(), Some("1.0 TiB"));
        assert_eq!(requested(CUDA).as_deref(), Some("2.00 GiB"));
        assert_eq!(requested(CUDA_OLD).as_deref(), Some("20.00 MiB"));
        assert_eq!(requested(CUDA_PLAIN), None);
    }

    #[test]
    fn advice_names_the_device_the_batch_and_the_setting_to_try() {
        assert_eq!(
            advice("cpu", Some(("train.batch_size", 65536)), CPU),
            "out of memory on cpu at batch size 65536: try --set train.batch_size=32768 \
             (LibTorch could not allocate 64.0 GiB)"
        );
        assert_eq!(
            advice("cuda:0", Some(("eval.batch_size", 500)), CUDA_PLAIN),
            "out of memory on cuda:0 at batch size 500: try --set eval.batch_size=250"
        );
        let one = advice("cuda:0", Some(("train.batch_size", 1)), CUDA);
        assert!(one.contains("a single example does not fit"), "{one}");
        let setup = advice("cpu", None, CPU);
        assert!(setup.starts_with("out of memory on cpu (LibTorch could not allocate 64.0 GiB)"));
    }

    #[test]
    fn a_real_allocation_failure_is_caught_and_other_failures_are_not() {
        // 2^46 floats = 256 TiB: more than any x86-64 or arm64 process can map, so the
        // allocator fails at once, whatever the machine and its overcommit settings.
        let got = guard(|| Ok(Tensor::zeros([1i64 << 46], (Kind::Float, Device::Cpu)))).unwrap();
        let Guarded::OutOfMemory(text) = got else {
            panic!("the allocation succeeded")
        };
        assert!(text.contains("DefaultCPUAllocator"), "{text}");
        assert_eq!(requested(&text).as_deref(), Some("256.0 TiB"));
        // The same failure returned as an error (tch's fallible `f_` methods).
        let got = guard(|| Ok(Tensor::f_zeros([1i64 << 46], (Kind::Float, Device::Cpu))?)).unwrap();
        assert!(matches!(got, Guarded::OutOfMemory(_)));

        assert!(matches!(guard(|| Ok(7)).unwrap(), Guarded::Done(7)));
        assert!(guard(|| -> Result<()> { anyhow::bail!("a shape mismatch") }).is_err());
        let other = panic::catch_unwind(|| guard(|| -> Result<()> { panic!("a bug") }));
        assert!(other.is_err(), "other panics go on unwinding");
    }
}
