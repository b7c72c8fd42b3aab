"""Loads a bapw LeNet-5 checkpoint into a plain torch.nn.Module and prints its MNIST test
accuracy as JSON. This is the README's "load a pruned checkpoint in PyTorch" snippet
(bapw_lenet.py), tested."""
import json, sys

import torch

from bapw_lenet import load_checkpoint
from mnist_idx import load_split

ckpt, mnist = sys.argv[1], sys.argv[2]
model = load_checkpoint(ckpt)
x, y = load_split(mnist, "test")
with torch.no_grad():
    acc = (model(x).argmax(1) == y).float().mean().item()
zeros = sum((p == 0).sum().item() for n, p in model.named_parameters() if n.endswith("weight"))
total = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
print(json.dumps({"test_acc": acc, "sparsity": zeros / total}))
