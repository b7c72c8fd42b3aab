//! Where the milliseconds of a training step go: each piece of bapw's natural, FGSM and BAP
//! steps (LeNet-5, MNIST, batch 128), timed alone through bapw's own code, with autograd's
//! version of every attack piece beside the fast path's.
//!
//! `cargo bench --bench profile -- [THREADS] [REPEATS]` (defaults 2 and 15) prints one line per
//! piece: the median and the minimum over REPEATS runs after two warm-up runs, in wall-clock
//! milliseconds, or in CPU milliseconds of the process with `BAPW_PROFILE_CPU=1` (a rougher
//! but steadier measure of work on a shared machine; use it with 1 thread, since idle
//! LibTorch threads spin). Needs MNIST
//! (`bapw data fetch mnist`); without it random images stand in (ReLU and pooling patterns
//! then differ from real training). `benches/README.md` has the figures and what they mean.
use std::time::Instant;

use anyhow::Result;
use bapw::attack::{self, Classifier, DeepFool, Linearization, Model, Objective};
use bapw::config::preset::{ModelCfg, TrainCfg};
use bapw::model::Net;
use bapw::train::loss::smoothed_ce;
use bapw::train::optim::Optimizer;
use tch::{Device, Kind, Tensor};

const BATCH: i64 = 128;

/// Milliseconds of CPU time this process has used (all threads).
fn cpu_ms() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
}

/// Wall-clock milliseconds, or CPU milliseconds with `BAPW_PROFILE_CPU=1`.
fn now_ms() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    if std::env::var("BAPW_PROFILE_CPU").as_deref() == Ok("1") {
        cpu_ms()
    } else {
        START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
    }
}

/// Median and minimum milliseconds of `f` over `reps` runs (after two warm-up runs).
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    for _ in 0..2 {
        let _ = f();
    }
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = now_ms();
            let _ = f();
            now_ms() - t
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

fn images() -> (Tensor, Tensor) {
    let data = bapw::config::paths::dataset_dir("mnist")
        .ok()
        .filter(|d| bapw::data::idx_dir_complete(d))
        .and_then(|d| bapw::data::load_idx_dir(&d, "mnist").ok());
    match data {
        Some(d) => (
            d.train_x.narrow(0, 0, 2 * BATCH),
            d.train_y.narrow(0, 0, 2 * BATCH),
        ),
        None => {
            eprintln!("MNIST not found: random images (run `bapw data fetch mnist`)");
            (
                Tensor::rand([2 * BATCH, 1, 28, 28], (Kind::Float, Device::Cpu)),
                Tensor::randint(10, [2 * BATCH], (Kind::Int64, Device::Cpu)),
            )
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let threads: i32 = args.first().map_or(Ok(2), |s| s.parse())?;
    let reps: usize = args.get(1).map_or(Ok(15), |s| s.parse())?;
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let cfg = ModelCfg {
        arch: "lenet5".into(),
        hidden: vec![],
    };
    let net = Net::new(&cfg, (1, 28, 28), 10, Device::Cpu)?;
    let (xs, ys) = images();
    let x = xs.narrow(0, 0, BATCH);
    let y = ys.narrow(0, 0, BATCH);
    // An adversarial-looking second half: the training step's x_adv stand-in.
    let x_adv = (&x + x.rand_like() * 0.3 - 0.15).clamp(0.0, 1.0);
    let closure = |t: &Tensor| net.forward(t);
    let slow: Model = &closure;
    let fast: Model = &net;
    let obj = Objective::CrossEntropy(&y);
    let ce = |l: &Tensor| obj.per_example(l);
    let mut rows: Vec<(&str, (f64, f64))> = Vec::new();

    rows.push(("forward, values only", time(reps, || net.logits(&x))));
    rows.push(("forward with graph", time(reps, || net.forward(&x))));
    rows.push((
        "forward recorded for input gradients",
        time(reps, || net.record(&x, false)),
    ));
    let rec = net.record(&x, false);
    rows.push((
        "input gradient, 1 cotangent (fast, given the record)",
        time(reps, || rec.loss_grad(&ce).unwrap()),
    ));
    rows.push((
        "FGSM gradient: autograd forward + backward",
        time(reps, || slow.loss_grad(&x, &ce).unwrap()),
    ));
    rows.push((
        "FGSM gradient: fast forward + backward",
        time(reps, || fast.loss_grad(&x, &ce).unwrap()),
    ));
    let (_, top) = rec.logits().topk(10, 1, true, true);
    rows.push((
        "9 DeepFool gradients (fast, given the record)",
        time(reps, || rec.diff_grads(&top, None).unwrap()),
    ));
    let lin = slow.linearize(&x)?;
    rows.push((
        "9 DeepFool gradients (autograd, given the graph)",
        time(reps, || lin.diff_grads(&top, None).unwrap()),
    ));
    drop(lin);
    let df = DeepFool::default();
    let few = reps.min(5);
    rows.push((
        "DeepFool 5x10: autograd",
        time(few, || df.run(slow, &x).unwrap()),
    ));
    rows.push((
        "DeepFool 5x10: fast",
        time(few, || df.run(fast, &x).unwrap()),
    ));

    let mut opt = Optimizer::new(&TrainCfg::default(), net.named_params());
    let mut update = |clean: &Tensor, adv: Option<&Tensor>| {
        opt.zero_grad();
        let mut loss = smoothed_ce(clean, &y, 0.1);
        if let Some(a) = adv {
            loss = loss * 0.5 + smoothed_ce(a, &y, 0.1) * 0.5;
        }
        loss.backward();
    };
    rows.push((
        "natural: forward + backward, 128",
        time(reps, || update(&net.forward(&x), None)),
    ));
    rows.push((
        "clean + adversarial: one forward + backward of 256",
        time(reps, || {
            let both = net.forward(&Tensor::cat(&[&x, &x_adv], 0));
            update(
                &both.narrow(0, 0, BATCH),
                Some(&both.narrow(0, BATCH, BATCH)),
            );
        }),
    ));
    rows.push((
        "clean (recorded) + adversarial forward, one backward",
        time(reps, || {
            let r = net.record(&x, true);
            update(r.graph_logits().unwrap(), Some(&net.forward(&x_adv)));
        }),
    ));
    rows.push(("Adam step", time(reps, || opt.step())));
    let _ = attack::accuracy(&net.logits(&x), &y);

    let clock = match std::env::var("BAPW_PROFILE_CPU").as_deref() {
        Ok("1") => "CPU",
        _ => "wall-clock",
    };
    println!(
        "LeNet-5, batch {BATCH}, {} threads, median (min) of {reps} runs, {clock} ms:",
        tch::get_num_threads()
    );
    for (name, (med, min)) in rows {
        println!("  {name:55} {med:8.2} ({min:.2})");
    }
    Ok(())
}
