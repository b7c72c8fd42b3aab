//! The input gradient through a convolution, its max-pool and ReLU, from the pooling's routing.
//!
//! Max-pool sends each pooled unit's gradient to one position of the convolution's output,
//! and the ReLU after it stops the dead units', so the gradient that reaches the convolution
//! is zero at three of four positions (2 x 2 pools) or more. A dense transposed convolution
//! multiplies all those zeros (LeNet-5's second convolution: 10 M multiply-adds per row and
//! cotangent). Here each live pooled unit adds its gradient times its output channel's
//! kernel, `k x k x C` values, into the window it was computed from: a quarter of the work
//! or less, in plain Rust loops the compiler vectorises (AVX-512, else AVX2 and FMA, chosen
//! at run time on x86-64). The values equal the dense chain's up to the order of float
//! additions (`tests/attack_input_grad.rs` and the tests below, 1e-5 against autograd), and
//! do not depend on the thread count (each (cotangent, example) is summed by one thread in
//! one order).
//!
//! Layout inside: per (cotangent, example), the padded input grid channels-last, so that one
//! kernel row (`k` positions x `C` channels) is contiguous in memory. Units are grouped by the
//! output position they route to, and their kernels are summed before that window is touched
//! (the window is written once per position, not once per unit).
use std::sync::Mutex;

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

use super::pool;

/// The geometry of one Conv -> MaxPool -> ReLU block, in elements.
#[derive(Clone, Copy, Debug)]
pub(super) struct Block {
    /// Input channels, output channels, kernel size, stride.
    pub c: usize,
    pub o: usize,
    pub k: usize,
    pub stride: usize,
    /// The convolution's input grid with all padding (explicit and the convolution's own).
    pub grid: (usize, usize),
    /// Where the unpadded input starts in `grid` (top, left) and its size.
    pub origin: (usize, usize),
    pub input: (usize, usize),
    /// The convolution's output grid (what the pool's indices address) and the pooled grid.
    pub conv_out: (usize, usize),
    pub pooled: (usize, usize),
}

impl Block {
    fn unit_count(&self) -> usize {
        self.o * self.pooled.0 * self.pooled.1
    }

    fn input_len(&self) -> usize {
        self.c * self.input.0 * self.input.1
    }

    fn window_len(&self) -> usize {
        self.k * self.k * self.c
    }

    /// A window's length padded with zeros to whole blocks of [`BLOCK`] floats, so that the
    /// sums have no scalar tail (a first layer's 5 x 5 x 1 window is 25).
    fn window_stride(&self) -> usize {
        self.window_len().div_ceil(BLOCK) * BLOCK
    }
}

/// A CPU float tensor's elements, borrowed. The tensor must be contiguous.
fn slice<T: tch::kind::Element>(t: &Tensor) -> &[T] {
    assert!(t.is_contiguous() && t.device() == Device::Cpu && t.kind() == T::KIND);
    let n = t.numel();
    if n == 0 {
        return &[];
    }
    // SAFETY: a contiguous CPU tensor of kind T holds `numel` initialised Ts at `data_ptr`,
    // and the borrow of `t` keeps its storage alive; the tensors read here are not written
    // while borrowed (they are this module's inputs, made contiguous by the caller).
    unsafe { std::slice::from_raw_parts(t.data_ptr() as *const T, n) }
}

/// The input gradient `[M*R, C, H, W]` of one block for `g` `[M*R, O, Hp, Wp]`, the gradient
/// after its ReLU (M cotangents of R examples). `alive` `[R, O, Hp, Wp]` is the ReLU's 0/1
/// mask, `indices` `[R, O, Hp, Wp]` the pool's argmax in the convolution's output plane,
/// `weight` `[O, C, k, k]`. Threads: LibTorch's intra-op thread count.
pub(super) fn input_grad(
    b: &Block,
    g: &Tensor,
    alive: &Tensor,
    indices: &Tensor,
    weight: &Tensor,
    rows: usize,
) -> Result<Tensor> {
    let units = b.unit_count();
    let mr = g.size()[0] as usize;
    if rows == 0
        || !mr.is_multiple_of(rows)
        || g.numel() != mr * units
        || alive.numel() != rows * units
    {
        bail!(
            "routed gradient: shapes {:?}, {:?} for {rows} rows of {units} units",
            g.size(),
            alive.size()
        );
    }
    let g = g.to_kind(Kind::Float).contiguous();
    let alive = alive.to_kind(Kind::Float).contiguous();
    let indices = indices.to_kind(Kind::Int64).contiguous();
    // [O, k, k, C] (zero-padded to the window stride): a unit's whole window contribution is
    // one contiguous run.
    let wq = weight
        .detach()
        .to_kind(Kind::Float)
        .permute([0, 2, 3, 1])
        .reshape([b.o as i64, -1])
        .constant_pad_nd([0, (b.window_stride() - b.window_len()) as i64])
        .contiguous();
    let out = Tensor::empty(
        [mr as i64, b.c as i64, b.input.0 as i64, b.input.1 as i64],
        (Kind::Float, Device::Cpu),
    );
    let inputs = Inputs {
        g: slice(&g),
        alive: slice(&alive),
        indices: slice(&indices),
        wq: slice(&wq),
        rows,
    };
    let per_task = b.input_len();
    let threads = (tch::get_num_threads().max(1) as usize).min(mr);
    let tasks_per_part = mr.div_ceil(threads);
    let n = out.numel();
    if n > 0 {
        // SAFETY: `out` was just allocated here, is contiguous float on the CPU, and nothing
        // else refers to it until this block ends.
        let dst: &mut [f32] =
            unsafe { std::slice::from_raw_parts_mut(out.data_ptr() as *mut f32, n) };
        let parts: Vec<Mutex<&mut [f32]>> = dst
            .chunks_mut(tasks_per_part * per_task)
            .map(Mutex::new)
            .collect();
        pool::for_each_part(parts.len(), threads, &|i| {
            let mut part = parts[i].lock().unwrap_or_else(|e| e.into_inner());
            run(b, &inputs, i * tasks_per_part, &mut part);
        });
    }
    Ok(out)
}

/// The flat inputs of [`input_grad`].
struct Inputs<'a> {
    g: &'a [f32],
    alive: &'a [f32],
    indices: &'a [i64],
    wq: &'a [f32],
    rows: usize,
}

/// Tasks `first..` (task t = cotangent t / R, example t % R) into `out`, `input_len` each.
fn run(b: &Block, inp: &Inputs, first: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features `run_avx512` is compiled for (checked above).
            unsafe { run_avx512(b, inp, first, out) };
            return;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features `run_avx2` is compiled for (checked above).
            unsafe { run_avx2(b, inp, first, out) };
            return;
        }
    }
    // aarch64 always has fused multiply-add; elsewhere a multiply and an add.
    run_with::<{ cfg!(target_arch = "aarch64") }>(b, inp, first, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2(b: &Block, inp: &Inputs, first: usize, out: &mut [f32]) {
    run_with::<true>(b, inp, first, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn run_avx512(b: &Block, inp: &Inputs, first: usize, out: &mut [f32]) {
    run_with::<true>(b, inp, first, out);
}

/// Scratch reused across the tasks of one thread.
struct Scratch {
    /// Per conv-output position, where its units start in `units` (counting sort).
    start: Vec<u32>,
    next: Vec<u32>,
    /// The live units' indices, grouped by position.
    units: Vec<u32>,
    /// The offset of each live unit's kernel in `wq` (same order).
    offsets: Vec<usize>,
    /// Each live unit's gradient under each cotangent of the group, the group's size apart.
    grads: Vec<f32>,
    /// One position's summed window (`k x k x C`) per cotangent of the group.
    window: Vec<f32>,
    /// The padded input grid, channels-last, per cotangent of the group.
    grids: Vec<f32>,
}

/// Most cotangents summed together: DeepFool's nine on ten classes. Each kernel read from
/// the cache then serves every cotangent of the group.
pub(super) const MAX_GROUP: usize = 9;

#[inline(always)]
fn run_with<const FMA: bool>(b: &Block, inp: &Inputs, first: usize, out: &mut [f32]) {
    let positions = b.conv_out.0 * b.conv_out.1;
    let grid_len = b.grid.0 * b.grid.1 * b.c;
    let mut sc = Scratch {
        start: vec![0; positions + 1],
        next: vec![0; positions + 1],
        units: Vec::with_capacity(b.unit_count()),
        offsets: Vec::with_capacity(b.unit_count()),
        grads: Vec::with_capacity(b.unit_count() * MAX_GROUP),
        window: vec![0.0; b.window_stride() * MAX_GROUP],
        grids: vec![0.0; grid_len * MAX_GROUP],
    };
    let len = b.input_len();
    let tasks = first..first + out.len() / len;
    // Example by example: an example's routing is grouped once, and its cotangents in this
    // thread's share go through the kernels together.
    for example in 0..inp.rows {
        let mine: Vec<usize> = (example..tasks.end)
            .step_by(inp.rows)
            .filter(|t| tasks.contains(t))
            .collect();
        if mine.is_empty() {
            continue;
        }
        route(b, inp, example, &mut sc);
        for group in mine.chunks(MAX_GROUP) {
            // Direct calls, not function pointers: a pointer's target would be compiled
            // without this function's target features (and `mul_add` become a libm call).
            let sc = &mut sc;
            match group.len() {
                1 => cotangents::<FMA, 1, 64>(b, inp, group, sc),
                2 => cotangents::<FMA, 2, 32>(b, inp, group, sc),
                3 => cotangents::<FMA, 3, 16>(b, inp, group, sc),
                4 => cotangents::<FMA, 4, 16>(b, inp, group, sc),
                5 => cotangents::<FMA, 5, 16>(b, inp, group, sc),
                6 => cotangents::<FMA, 6, 16>(b, inp, group, sc),
                7 => cotangents::<FMA, 7, 16>(b, inp, group, sc),
                8 => cotangents::<FMA, 8, 16>(b, inp, group, sc),
                _ => cotangents::<FMA, 9, 16>(b, inp, group, sc),
            }
            for (i, &task) in group.iter().enumerate() {
                let at = (task - first) * len;
                crop(
                    b,
                    &sc.grids[i * grid_len..(i + 1) * grid_len],
                    &mut out[at..at + len],
                );
            }
        }
    }
}

/// Groups `example`'s live units by the convolution output position they route to.
fn route(b: &Block, inp: &Inputs, example: usize, sc: &mut Scratch) {
    let units = b.unit_count();
    let per_channel = b.pooled.0 * b.pooled.1;
    let alive = &inp.alive[example * units..(example + 1) * units];
    let idx = &inp.indices[example * units..(example + 1) * units];
    let positions = b.conv_out.0 * b.conv_out.1;
    sc.start.iter_mut().for_each(|s| *s = 0);
    for (a, &q) in alive.iter().zip(idx) {
        if *a != 0.0 {
            sc.start[q as usize + 1] += 1;
        }
    }
    for q in 0..positions {
        sc.start[q + 1] += sc.start[q];
    }
    let live = sc.start[positions] as usize;
    sc.units.clear();
    sc.units.resize(live, 0);
    sc.offsets.clear();
    sc.offsets.resize(live, 0);
    sc.next.copy_from_slice(&sc.start);
    let next = &mut sc.next;
    for (u, (a, &q)) in alive.iter().zip(idx).enumerate() {
        if *a != 0.0 {
            let slot = &mut next[q as usize];
            sc.units[*slot as usize] = u as u32;
            sc.offsets[*slot as usize] = u / per_channel * b.window_stride();
            *slot += 1;
        }
    }
}

/// The padded input gradients of one example under `MB` cotangents (`tasks`) into
/// `sc.grids`. `BW` floats of each window are summed in registers at a time for all `MB`
/// cotangents (9 x 16 floats: nine AVX-512 registers, eighteen AVX2 ones).
#[inline(always)]
fn cotangents<const FMA: bool, const MB: usize, const BW: usize>(
    b: &Block,
    inp: &Inputs,
    tasks: &[usize],
    sc: &mut Scratch,
) {
    let units = b.unit_count();
    let (k, c) = (b.k, b.c);
    let (row, wlen) = (k * c, b.window_stride());
    let grid_len = b.grid.0 * b.grid.1 * c;
    let gs: [&[f32]; MB] =
        std::array::from_fn(|m| &inp.g[tasks[m] * units..(tasks[m] + 1) * units]);
    sc.grads.clear();
    sc.grads
        .extend(sc.units.iter().flat_map(|&u| gs.map(|g| g[u as usize])));
    sc.grids[..MB * grid_len].iter_mut().for_each(|v| *v = 0.0);
    for q in 0..b.conv_out.0 * b.conv_out.1 {
        let (s, e) = (sc.start[q] as usize, sc.start[q + 1] as usize);
        if s == e {
            continue;
        }
        sum_kernels::<FMA, MB, BW>(
            &sc.offsets[s..e],
            &sc.grads[s * MB..e * MB],
            inp.wq,
            wlen,
            &mut sc.window,
        );
        let (y, x) = (q / b.conv_out.1 * b.stride, q % b.conv_out.1 * b.stride);
        for m in 0..MB {
            let grid = &mut sc.grids[m * grid_len..(m + 1) * grid_len];
            let window = &sc.window[m * wlen..(m + 1) * wlen];
            for ky in 0..k {
                let at = ((y + ky) * b.grid.1 + x) * c;
                for (d, w) in grid[at..at + row].iter_mut().zip(&window[ky * row..]) {
                    *d += *w;
                }
            }
        }
    }
}

/// Every sum runs in whole blocks of this many floats (one AVX-512 register).
const BLOCK: usize = 16;

/// `window[m]` = the sum over the units (kernel offsets in `wq`, gradients `MB` per unit)
/// of gradient m times kernel, `wlen` floats (a multiple of [`BLOCK`]) per window. Blocks of
/// `BW` floats for all `MB` cotangents stay in registers across the units, so each kernel
/// value is loaded once for `MB` multiply-adds; what is left is summed a [`BLOCK`] at a time.
#[inline(always)]
fn sum_kernels<const FMA: bool, const MB: usize, const BW: usize>(
    offsets: &[usize],
    grads: &[f32],
    wq: &[f32],
    wlen: usize,
    window: &mut [f32],
) {
    let wide = wlen / BW * BW;
    sum_blocks::<FMA, MB, BW>(offsets, grads, wq, 0..wide, wlen, window);
    sum_blocks::<FMA, MB, BLOCK>(offsets, grads, wq, wide..wlen, wlen, window);
}

/// [`sum_kernels`] over `range` of each window, `W` floats at a time.
#[inline(always)]
fn sum_blocks<const FMA: bool, const MB: usize, const W: usize>(
    offsets: &[usize],
    grads: &[f32],
    wq: &[f32],
    range: std::ops::Range<usize>,
    wlen: usize,
    window: &mut [f32],
) {
    for at in range.step_by(W) {
        let mut acc = [[0.0f32; W]; MB];
        for (&off, a) in offsets.iter().zip(grads.chunks_exact(MB)) {
            let w: &[f32; W] = wq[off + at..][..W].try_into().expect("a block of W");
            for m in 0..MB {
                for l in 0..W {
                    acc[m][l] = madd::<FMA>(a[m], w[l], acc[m][l]);
                }
            }
        }
        for (m, acc) in acc.iter().enumerate() {
            window[m * wlen + at..][..W].copy_from_slice(acc);
        }
    }
}

/// a * w + acc, fused where the CPU has FMA (an unfused `mul_add` would call libm).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, w: f32, acc: f32) -> f32 {
    if FMA {
        a.mul_add(w, acc)
    } else {
        acc + a * w
    }
}

/// The unpadded part of the channels-last `grid`, written `[C, H, W]` into `dst`.
fn crop(b: &Block, grid: &[f32], dst: &mut [f32]) {
    let (h, w) = b.input;
    let (top, left) = b.origin;
    let c = b.c;
    for y in 0..h {
        let src = &grid[((top + y) * b.grid.1 + left) * c..][..w * c];
        for (x, px) in src.chunks_exact(c).enumerate() {
            for (ch, v) in px.iter().enumerate() {
                dst[(ch * h + y) * w + x] = *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{input_grad, Block};
    use tch::{Device, Kind, Tensor};

    /// (C, O, k, stride, padding, pool, H = W, cotangents, rows)
    type Case = (i64, i64, i64, i64, i64, i64, i64, i64, i64);

    /// The routed gradient equals autograd's through conv -> max-pool -> ReLU.
    fn check((c, o, k, s, p, pool, hw, m, r): Case) {
        tch::manual_seed(c * 1000 + o + m);
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([r, c, hw, hw], opts).set_requires_grad(true);
        let w = Tensor::randn([o, c, k, k], opts) * 0.3;
        let conv = x.conv2d(&w, None::<Tensor>, [s, s], [p, p], [1, 1], 1);
        let (pooled, idx) =
            conv.max_pool2d_with_indices([pool, pool], [pool, pool], [0, 0], [1, 1], false);
        let out = pooled.relu();
        let (hc, hp) = (conv.size()[2], out.size()[2]);
        let g = Tensor::randn([m, r, o, hp, hp], opts);
        let want: Vec<Tensor> = (0..m)
            .map(|i| {
                let total = (&out * g.get(i)).sum(Kind::Float);
                Tensor::run_backward(&[total], &[&x], true, false).swap_remove(0)
            })
            .collect();
        let want = Tensor::stack(&want, 0);
        let u = |v: i64| v as usize;
        let block = Block {
            c: u(c),
            o: u(o),
            k: u(k),
            stride: u(s),
            grid: (u(hw + 2 * p), u(hw + 2 * p)),
            origin: (u(p), u(p)),
            input: (u(hw), u(hw)),
            conv_out: (u(hc), u(hc)),
            pooled: (u(hp), u(hp)),
        };
        let alive = out.detach().gt(0.0).to_kind(Kind::Float);
        let got = input_grad(&block, &g.view([m * r, o, hp, hp]), &alive, &idx, &w, u(r))
            .expect("routed gradient")
            .view([m, r, c, hw, hw]);
        let err = (&got - &want).norm().double_value(&[]) / want.norm().double_value(&[]);
        assert!(
            err < 1e-5,
            "case {:?}: relative error {err}",
            (c, o, k, s, p, pool, hw, m, r)
        );
    }

    #[test]
    fn routed_gradients_equal_autograd() {
        for case in [
            // LeNet-5's second block; 11 cotangents go as a group of 9 and one of 2.
            (32, 64, 5, 1, 2, 2, 14, 11, 3),
            // A first layer: one channel, a 25-float window padded to 32.
            (1, 4, 5, 1, 0, 2, 12, 4, 2),
            // Strided, 3 x 3 pools with a remainder the pool drops, one cotangent.
            (3, 8, 3, 2, 1, 3, 17, 1, 5),
        ] {
            check(case);
        }
    }
}
