//! Work split over LibTorch's own OpenMP threads, for bapw's CPU kernels ([`super::routed`]).
//!
//! Why not `std::thread`: after each parallel operation LibTorch's OpenMP workers keep
//! spinning (libgomp's default spin count, milliseconds on a busy-wait), so threads of our own
//! started right after share the cores with them and a two-thread kernel ran barely faster
//! than one (`benches/README.md`). Entering OpenMP's parallel region instead runs the work on
//! those very workers. The entry points are looked up at run time (`GOMP_parallel`, which
//! libgomp and LLVM's and Intel's OpenMP all export); without them the work runs on scoped
//! threads.
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

type Body = unsafe extern "C" fn(*mut c_void);
type Parallel = unsafe extern "C" fn(Body, *mut c_void, u32, u32);
type Query = unsafe extern "C" fn() -> i32;

#[derive(Clone, Copy)]
struct Omp {
    parallel: Parallel,
    thread_num: Query,
    num_threads: Query,
}

#[cfg(not(unix))]
fn omp() -> Option<Omp> {
    None
}

#[cfg(unix)]
fn omp() -> Option<Omp> {
    use std::sync::OnceLock;
    static OMP: OnceLock<Option<Omp>> = OnceLock::new();
    *OMP.get_or_init(|| {
        let find = |name: &std::ffi::CStr| {
            // SAFETY: dlsym with RTLD_DEFAULT only searches the loaded objects.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!p.is_null()).then_some(p)
        };
        let (p, t, n) = (
            find(c"GOMP_parallel")?,
            find(c"omp_get_thread_num")?,
            find(c"omp_get_num_threads")?,
        );
        // SAFETY: these are the OpenMP runtime's documented C entry points, with these
        // signatures (GOMP_parallel: GCC's libgomp ABI, also exported by LLVM's and Intel's).
        unsafe {
            Some(Omp {
                parallel: std::mem::transmute::<*mut c_void, Parallel>(p),
                thread_num: std::mem::transmute::<*mut c_void, Query>(t),
                num_threads: std::mem::transmute::<*mut c_void, Query>(n),
            })
        }
    })
}

/// What one OpenMP thread needs: the work, and where a panic is reported.
struct Region<'a> {
    work: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    omp: Omp,
    panicked: AtomicBool,
}

unsafe extern "C" fn body(data: *mut c_void) {
    // SAFETY: `data` is the `Region` that `for_each_part` passed, alive until the region ends.
    let r = unsafe { &*(data as *const Region) };
    // SAFETY: called inside the parallel region, as OpenMP requires.
    let (me, team) = unsafe { ((r.omp.thread_num)(), (r.omp.num_threads)()) };
    let (me, team) = (me.max(0) as usize, team.max(1) as usize);
    // The runtime may start fewer threads than asked for: each takes every team-th part.
    let run = || (me..r.parts).step_by(team).for_each(|i| (r.work)(i));
    // A panic must not unwind into C; it is re-raised once the region has ended.
    if catch_unwind(AssertUnwindSafe(run)).is_err() {
        r.panicked.store(true, Ordering::Relaxed);
    }
}

/// Runs `work(i)` for every i in `0..parts`, in parallel over up to `threads` threads.
pub(super) fn for_each_part(parts: usize, threads: usize, work: &(dyn Fn(usize) + Sync)) {
    let threads = threads.clamp(1, parts.max(1));
    if threads == 1 {
        (0..parts).for_each(work);
        return;
    }
    match omp() {
        Some(omp) => {
            let region = Region {
                work,
                parts,
                omp,
                panicked: AtomicBool::new(false),
            };
            // SAFETY: `body` only reads `region`, which outlives the call (the region joins
            // all its threads before GOMP_parallel returns).
            unsafe {
                (omp.parallel)(
                    body,
                    &region as *const Region as *mut c_void,
                    threads as u32,
                    0,
                )
            };
            if region.panicked.load(Ordering::Relaxed) {
                panic!("a parallel part panicked");
            }
        }
        None => std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || (t..parts).step_by(threads).for_each(work));
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::for_each_part;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_exactly_once() {
        for (parts, threads) in [(0, 2), (1, 4), (7, 2), (64, 3), (5, 1)] {
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            for_each_part(parts, threads, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }
}
