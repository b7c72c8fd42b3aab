#!/usr/bin/env python3
"""The PyTorch side of `cargo bench --bench profile`: the pieces of a natural, FGSM and BAP
training step (LeNet-5, batch 128) the way an eager PyTorch script runs them (NCHW tensors,
autograd for every gradient, K = 10 DeepFool gradients), timed alone, plus the single
operations that explain the difference (benches/README.md).

Usage: profile_torch.py [--threads T] [--repeats R] [--data MNIST_DIR] [--cpu]
Prints one line per piece: median (min) milliseconds over R runs after two warm-up runs;
wall-clock, or the process's CPU time with --cpu (steadier on a shared machine; use it with
--threads 1).
"""
import argparse
import os
import struct
import time

import torch
import torch.nn.functional as F


def load_images(folder, n):
    with open(os.path.join(folder, "train-images-idx3-ubyte"), "rb") as f:
        _, count, rows, cols = struct.unpack(">IIII", f.read(16))
        raw = f.read(n * rows * cols)
    x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).float().div(255)
    with open(os.path.join(folder, "train-labels-idx1-ubyte"), "rb") as f:
        f.read(8)
        y = torch.frombuffer(bytearray(f.read(n)), dtype=torch.uint8).long()
    return x.view(n, 1, rows, cols), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--data")
    ap.add_argument("--cpu", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    clock = time.process_time if a.cpu else time.perf_counter

    def timed(f, reps=a.repeats):
        f()
        f()
        v = []
        for _ in range(reps):
            t0 = clock()
            f()
            v.append((clock() - t0) * 1e3)
        v.sort()
        return v[len(v) // 2], v[0]

    n = 128
    if a.data:
        x, y = load_images(a.data, n)
    else:
        x, y = torch.rand(n, 1, 28, 28), torch.randint(10, (n,))
    x_adv = (x + torch.rand_like(x) * 0.3 - 0.15).clamp(0, 1)

    # LeNet-5 as bapw builds it (conv 5x5 "same", max-pool 2, fc 84, fc 10), Glorot-ish init.
    def glorot(*shape, fan_in, fan_out):
        b = (6 / (fan_in + fan_out)) ** 0.5
        return (torch.rand(*shape) * 2 - 1) * b

    w1 = glorot(32, 1, 5, 5, fan_in=25, fan_out=800)
    w2 = glorot(64, 32, 5, 5, fan_in=800, fan_out=1600)
    f1 = glorot(84, 3136, fan_in=3136, fan_out=84)
    f2 = glorot(10, 84, fan_in=84, fan_out=10)
    b1, b2, c1, c2 = torch.zeros(32), torch.zeros(64), torch.zeros(84), torch.zeros(10)
    params = [w1, b1, w2, b2, f1, c1, f2, c2]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=1e-3)

    def model(t):
        h = F.max_pool2d(F.relu(F.conv2d(t, w1, b1, padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=2)), 2)
        return F.linear(F.relu(F.linear(h.flatten(1), f1, c1)), f2, c2)

    def fgsm_grad():
        xr = x.clone().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(model(xr), y), xr)[0]

    def deepfool_grads():
        xr = x.clone().requires_grad_(True)
        v, _ = model(xr).topk(10, dim=1)
        return [torch.autograd.grad(v[:, j].sum(), xr, retain_graph=j < 9)[0] for j in range(10)]

    def smoothed_ce(logits):
        ys = F.one_hot(y, 10).float() * 0.9 + 0.01
        return -(ys * logits.log_softmax(-1)).sum(-1).mean()

    def natural():
        opt.zero_grad(set_to_none=True)
        smoothed_ce(model(x)).backward()

    def mixed():
        opt.zero_grad(set_to_none=True)
        (0.5 * smoothed_ce(model(x)) + 0.5 * smoothed_ce(model(x_adv))).backward()

    rows = []
    with torch.no_grad():
        rows.append(("forward, no_grad", timed(lambda: model(x))))
    rows.append(("forward with graph", timed(lambda: model(x))))
    rows.append(("FGSM gradient: autograd forward + backward", timed(fgsm_grad)))
    rows.append(("DeepFool iteration: forward + 10 gradients", timed(deepfool_grads, max(3, a.repeats // 3))))
    rows.append(("natural: forward + backward, 128", timed(natural)))
    rows.append(("clean + adversarial: two forwards + backward", timed(mixed)))
    rows.append(("Adam step", timed(opt.step)))

    # Single operations at batch 128.
    h1 = torch.rand(n, 32, 14, 14)
    a1 = torch.randn(n, 32, 28, 28)
    g2 = torch.randn(n, 64, 14, 14)
    g1 = torch.randn(n, 32, 28, 28)
    w2d, w1d = w2.detach(), w1.detach()
    flipped = w2d.flip([2, 3]).transpose(0, 1).contiguous()
    h1r = h1.clone().requires_grad_(True)
    out2 = F.conv2d(h1r, w2d, padding=2)
    xr = x.clone().requires_grad_(True)
    out1 = F.conv2d(xr, w1d, padding=2)
    cl = lambda t: t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    a1_cl = cl(a1)
    ops = [
        ("conv2 forward", lambda: F.conv2d(h1, w2d, padding=2)),
        ("conv2 forward, channels-last", (lambda h: lambda: F.conv2d(h, w2d, padding=2))(cl(h1))),
        ("conv2 input gradient, autograd", lambda: torch.autograd.grad(out2, h1r, g2, retain_graph=True)),
        ("conv2 input gradient, flipped-kernel forward conv", lambda: F.conv2d(g2, flipped, padding=2)),
        ("conv1 forward", lambda: F.conv2d(x, w1d, padding=2)),
        ("conv1 input gradient, autograd", lambda: torch.autograd.grad(out1, xr, g1, retain_graph=True)),
        ("conv1 input gradient, matmul + col2im",
         lambda: F.fold(w1d.view(32, 25).t() @ g1.view(n, 32, 784), (28, 28), 5, padding=2)),
        ("max-pool 2x2 of [128, 32, 28, 28]", lambda: F.max_pool2d(a1, 2)),
        ("max-pool 2x2, channels-last", lambda: F.max_pool2d(a1_cl, 2)),
    ]
    for name, f in ops:
        rows.append((name, timed(f)))

    kind = "CPU" if a.cpu else "wall-clock"
    print(f"PyTorch {torch.__version__}, LeNet-5, batch {n}, {torch.get_num_threads()} threads, "
          f"median (min) of {a.repeats} runs, {kind} ms:")
    for name, (med, lo) in rows:
        print(f"  {name:55} {med:8.2f} ({lo:.2f})")


if __name__ == "__main__":
    main()
