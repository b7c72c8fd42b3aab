"""Loads a bapw LeNet-5 checkpoint into a plain torch.nn.Module and prints its MNIST test
accuracy as JSON. This is the README's "load a pruned checkpoint in PyTorch" snippet
(bapw_lenet.py), tested."""
import json, os, struct, sys

import torch

from bapw_lenet import load_checkpoint


def idx(path):
    with open(path, "rb") as f:
        ndim = struct.unpack(">I", f.read(4))[0] & 0xFF
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(dims)


ckpt, mnist = sys.argv[1], sys.argv[2]
model = load_checkpoint(ckpt)
x = idx(os.path.join(mnist, "t10k-images-idx3-ubyte")).float().div(255).unsqueeze(1)
y = idx(os.path.join(mnist, "t10k-labels-idx1-ubyte")).long()
with torch.no_grad():
    acc = (model(x).argmax(1) == y).float().mean().item()
zeros = sum((p == 0).sum().item() for n, p in model.named_parameters() if n.endswith("weight"))
total = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
print(json.dumps({"test_acc": acc, "sparsity": zeros / total}))
