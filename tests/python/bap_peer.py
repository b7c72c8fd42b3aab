#!/usr/bin/env python3
"""bapw's PyTorch peer: the BAP training set-up of docs/algorithm.md written the way a
researcher would write it in plain eager PyTorch. It serves two purposes:

- speed: `benches/run.sh` and `bapw bench` time bapw against it, so every step does exactly the
  work the method asks for and nothing clever (no fused passes, no skipping of fooled examples);
- parity: `tests/attack_parity.rs` checks bapw's DeepFool and cutoff-scale against its dump.

The set-up: LeNet-5 on MNIST (tests/python/bapw_lenet.py), batch 128, layer-wise magnitude
masks on the cubic schedule (0 -> 0.9 over steps 0..14,070, recomputed every 100 steps), loss
with label smoothing 0.1, Adam 1e-3, and per mode:
  natural  clean loss only;
  fgsm     FGSM at eps 0.3 (L-inf), loss 0.5 CE(clean) + 0.5 CE(adversarial);
  bap      DeepFool (5 iterations, 10 candidates, overshoot 0.02), cut at the batch-mean RMS
           norm, scaled by rho = 1, the same 0.5/0.5 loss.

Usage:
  bap_peer.py --data DIR --mode natural|fgsm|bap --steps N [--batch 128] [--threads T]
      One warm-up step, then N timed steps; prints one JSON line with mode, steps, batch,
      threads, seconds and samples_per_s. Without --data, random MNIST-shaped images.
  bap_peer.py --data DIR --weights W --dump-deepfool OUT [--images N] [--batch B] [--threads T]
      DeepFool and cutoff-scale (rho 1) on the first N MNIST test images, B at a time, with the
      LeNet-5 weights of a bapw checkpoint W; writes the safetensors tensors "x", "deepfool"
      and "cutoff_scale" to OUT and prints one JSON line with images, seconds and
      deepfool_images_per_s (the attack and cutoff-scale only, not loading or writing).
DIR holds the four uncompressed MNIST IDX files.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from bapw_lenet import LeNet5, load_checkpoint
from mnist_idx import load_split

# The workload bapw's `bench` trains (src/bench.rs): the authors' MNIST pruning run.
SPARSITY_FROM, SPARSITY_TO = 0.0, 0.9
PRUNE_BEGIN, PRUNE_END, PRUNE_EVERY = 0, 14_070, 100
FGSM_EPS = 0.3
SMOOTHING = 0.1
LR = 1e-3


# --- pruning -------------------------------------------------------------------------------

def cubic_sparsity(step):
    """TF-MOT PolynomialDecay with power 3: the target sparsity at a global step."""
    progress = (step - PRUNE_BEGIN) / max(PRUNE_END - PRUNE_BEGIN, 1)
    progress = min(max(progress, 0.0), 1.0)
    return SPARSITY_TO + (SPARSITY_FROM - SPARSITY_TO) * (1.0 - progress) ** 3


def masks_due(step):
    return PRUNE_BEGIN <= step <= PRUNE_END and (step - PRUNE_BEGIN) % PRUNE_EVERY == 0


@torch.no_grad()
def magnitude_masks(kernels, sparsity):
    """Per layer, keep the max(1, round(n (1 - s))) largest |w| (ties at the threshold kept)."""
    masks = []
    for w in kernels:
        keep = max(1, round(w.numel() * (1.0 - sparsity)))
        threshold = w.abs().flatten().topk(keep).values[-1]
        masks.append((w.abs() >= threshold).to(w.dtype))
    return masks


@torch.no_grad()
def apply_masks(kernels, masks):
    for w, m in zip(kernels, masks):
        w.mul_(m)


# --- attacks -------------------------------------------------------------------------------

def deepfool(model, x, iters=5, candidates=10, overshoot=0.02):
    """Untargeted L2 DeepFool with the batch behaviour of cleverhans 3.0.1: the target is the
    model's own prediction, fooled examples stop moving, the top-K logits are re-ranked every
    iteration and each of the K is differentiated separately, the point is clipped to [0, 1]
    after every iteration and the returned example is clip(x + (1 + overshoot) r)."""
    n = x.shape[0]
    rows = torch.arange(n, device=x.device)
    with torch.no_grad():
        prediction = model(x).argmax(1)
    r = torch.zeros_like(x)
    point = x.clone()
    for _ in range(iters):
        point.requires_grad_(True)
        logits = model(point)
        unfooled = logits.argmax(1) == prediction
        if not unfooled.any():
            break
        k = min(candidates, logits.shape[1])
        top, _ = logits.topk(k, dim=1)
        grads = []
        for j in range(k):
            (g,) = torch.autograd.grad(top[:, j].sum(), point, retain_graph=j + 1 < k)
            grads.append(g.flatten(1))
        grads = torch.stack(grads, 1)  # [n, k, D]
        # Linearised distance to the boundary with each other candidate: |f_j - f_0| / ||w_j||.
        w = grads[:, 1:] - grads[:, :1]
        gap = (top[:, 1:] - top[:, :1]).detach()
        w_norm = w.norm(dim=2)
        distance = (gap.abs() + 1e-5) / (w_norm + 1e-8)
        nearest = distance.argmin(1)
        scale = distance[rows, nearest] / (w_norm[rows, nearest] + 1e-8)
        step = (scale.unsqueeze(1) * w[rows, nearest]).view_as(x)
        r = r + step * unfooled.view(-1, *[1] * (x.dim() - 1))
        point = (x + r).clamp(0, 1).detach()
    return (x + (1 + overshoot) * r).clamp(0, 1).detach()


def cutoff_scale(x, x_adv, rho=1.0, delta=None):
    """BAP's budget: each perturbation cut to per-pixel RMS <= delta (default: the batch mean
    of the RMS norms), then scaled by rho; clamped to [0, 1] only when rho > 1."""
    eta = x_adv - x
    pixels = eta[0].numel()
    rms = (eta.pow(2).flatten(1).sum(1) / pixels).clamp_min(1e-12).sqrt()
    if delta is None:
        delta = rms.mean()
    eta = eta * (delta / rms).clamp_max(1.0).view(-1, *[1] * (x.dim() - 1))
    out = x + rho * eta
    return out.clamp(0, 1) if rho > 1 else out


def fgsm(model, x, y, eps):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return (x + eps * g.sign()).clamp(0, 1).detach()


# --- the two commands ----------------------------------------------------------------------

def loss_of(model, x, y):
    return F.cross_entropy(model(x), y, label_smoothing=SMOOTHING)


def batches(n, batch, device):
    """Shuffled index batches, reshuffled each epoch."""
    while True:
        order = torch.randperm(n)
        for start in range(0, n, batch):
            yield order[start:start + batch].to(device)


def train(a, device):
    if a.data:
        xs, ys = load_split(a.data, "train")
    else:
        xs, ys = torch.rand(60_000, 1, 28, 28), torch.randint(10, (60_000,))
    model = LeNet5().to(device)
    kernels = [model.conv1.weight, model.conv2.weight, model.fc1.weight, model.fc2.weight]
    masks = [torch.ones_like(w) for w in kernels]
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    order = batches(xs.shape[0], a.batch, "cpu")
    started = None
    for step in range(a.steps + 1):
        if step == 1:  # step 0 is the warm-up
            sync(device)
            started = time.perf_counter()
        idx = next(order)
        x, y = xs[idx].to(device), ys[idx].to(device)
        if masks_due(step):
            masks = magnitude_masks(kernels, cubic_sparsity(step))
            apply_masks(kernels, masks)
        if a.mode == "natural":
            loss = loss_of(model, x, y)
        else:
            if a.mode == "fgsm":
                x_adv = fgsm(model, x, y, FGSM_EPS)
            else:
                x_adv = cutoff_scale(x, deepfool(model, x))
            loss = 0.5 * loss_of(model, x, y) + 0.5 * loss_of(model, x_adv, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        apply_masks(kernels, masks)
    sync(device)
    seconds = time.perf_counter() - started
    print(json.dumps({"mode": a.mode, "steps": a.steps, "batch": a.batch,
                      "threads": torch.get_num_threads(), "seconds": round(seconds, 4),
                      "samples_per_s": round(a.steps * a.batch / seconds, 1)}))


def dump_deepfool(a, device):
    from safetensors.torch import save_file

    if not a.data:
        raise SystemExit("--dump-deepfool needs --data (the MNIST test images)")
    model = load_checkpoint(a.weights) if a.weights else LeNet5().eval()
    model = model.to(device)
    x = load_split(a.data, "test")[0][:a.images]
    adversarial, scaled = [], []
    sync(device)
    started = time.perf_counter()
    for start in range(0, x.shape[0], a.batch):
        xb = x[start:start + a.batch].to(device)
        xa = deepfool(model, xb)
        adversarial.append(xa)
        scaled.append(cutoff_scale(xb, xa))
    sync(device)
    seconds = time.perf_counter() - started
    save_file({"x": x.contiguous(),
               "deepfool": torch.cat(adversarial).cpu().contiguous(),
               "cutoff_scale": torch.cat(scaled).cpu().contiguous()}, a.dump_deepfool)
    print(json.dumps({"images": x.shape[0], "threads": torch.get_num_threads(),
                      "out": a.dump_deepfool, "seconds": round(seconds, 4),
                      "deepfool_images_per_s": round(x.shape[0] / seconds, 1)}))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="folder of the four MNIST IDX files")
    ap.add_argument("--mode", default="bap", choices=["natural", "fgsm", "bap"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="0: torch's default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", help="a bapw LeNet-5 checkpoint (.safetensors)")
    ap.add_argument("--dump-deepfool", metavar="OUT")
    ap.add_argument("--images", type=int, default=256)
    a = ap.parse_args()
    if a.steps < 1 or a.batch < 1 or a.images < 1:
        raise SystemExit("--steps, --batch and --images must be at least 1")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    if a.dump_deepfool:
        dump_deepfool(a, device)
    else:
        train(a, device)


if __name__ == "__main__":
    main()
