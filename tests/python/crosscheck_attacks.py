"""Cross-check of bapw's FGSM and PGD against torchattacks on the same weights and images.

Loads a bapw LeNet-5 checkpoint into a plain torch.nn.Module (the `_mask` tensors dropped: the
pruned weights are already zero), runs torchattacks' FGSM and PGD (no random start, so the
result is deterministic) on images and labels from a safetensors file ("x" [N,1,28,28] float in
[0,1], "y" [N] int64), and prints the accuracies as one JSON object.

Usage: crosscheck_attacks.py WEIGHTS IMAGES --eps 0.05,0.1 --pgd-eps 0.1,0.2 --pgd-steps 10
PGD's step size is 2.5 * eps / steps, as in bapw's evaluation.
"""
import argparse
import json

import torchattacks

from bapw_lenet import load_case


def floats(text):
    return [float(v) for v in text.split(",") if v]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("images")
    ap.add_argument("--eps", type=floats, default=[0.05, 0.1, 0.2])
    ap.add_argument("--pgd-eps", type=floats, default=[0.1, 0.2])
    ap.add_argument("--pgd-steps", type=int, default=10)
    a = ap.parse_args()
    model, x, y, acc = load_case(a.weights, a.images)

    out = {"torchattacks": torchattacks.__version__, "clean": acc(x), "fgsm": {}, "pgd": {}}
    for eps in a.eps:
        out["fgsm"][str(eps)] = acc(torchattacks.FGSM(model, eps=eps)(x, y))
    for eps in a.pgd_eps:
        alpha = 2.5 * eps / a.pgd_steps
        atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=a.pgd_steps, random_start=False)
        out["pgd"][str(eps)] = acc(atk(x, y))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
