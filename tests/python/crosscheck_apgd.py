"""Cross-check of bapw's APGD-CE and APGD-T against torchattacks' APGD and APGDT on the same
weights and images.

Loads a bapw LeNet-5 checkpoint into a plain torch.nn.Module (see bapw_lenet.py), runs
torchattacks' APGD (loss "ce") and APGDT (targeted DLR, n_classes - 1 targets) with one restart
and seed 0 at each eps on images and labels from a safetensors file ("x" [N,1,28,28] float in
[0,1], "y" [N] int64), and prints the robust accuracies as one JSON object:
{"torchattacks": version, "clean": acc, "ce": {eps: acc}, "t": {eps: acc}}, each eps keyed as
given on the command line.

Usage: crosscheck_apgd.py WEIGHTS IMAGES --norm Linf --eps 0.1,0.2,0.3 --steps 25
"""
import argparse
import json

import torchattacks

from bapw_lenet import load_case


def budgets(text):
    return [v for v in text.split(",") if v]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("images")
    ap.add_argument("--norm", choices=["Linf", "L2"], default="Linf")
    ap.add_argument("--eps", type=budgets, default=["0.1", "0.2", "0.3"])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--classes", type=int, default=10)
    a = ap.parse_args()
    model, x, y, acc = load_case(a.weights, a.images)

    out = {"torchattacks": torchattacks.__version__, "clean": acc(x), "ce": {}, "t": {}}
    for text in a.eps:
        eps = float(text)
        ce = torchattacks.APGD(model, norm=a.norm, eps=eps, steps=a.steps, n_restarts=1,
                               seed=0, loss="ce", rho=0.75)
        out["ce"][text] = acc(ce(x, y))
        t = torchattacks.APGDT(model, norm=a.norm, eps=eps, steps=a.steps, n_restarts=1,
                               seed=0, rho=0.75, n_classes=a.classes)
        out["t"][text] = acc(t(x, y))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
