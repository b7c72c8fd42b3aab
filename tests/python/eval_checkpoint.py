"""Loads a bapw LeNet-5 checkpoint into a plain torch.nn.Module and prints its MNIST test
accuracy as JSON. This is the README's "load a pruned checkpoint in PyTorch" snippet, tested."""
import json, os, struct, sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file


class LeNet5(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 64, 84)
        self.fc2 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def idx(path):
    with open(path, "rb") as f:
        ndim = struct.unpack(">I", f.read(4))[0] & 0xFF
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(dims)


ckpt, mnist = sys.argv[1], sys.argv[2]
state = {k: v for k, v in load_file(ckpt).items() if not k.endswith("_mask")}
model = LeNet5()
model.load_state_dict(state)  # strict: every name and shape must match
model.eval()
x = idx(os.path.join(mnist, "t10k-images-idx3-ubyte")).float().div(255).unsqueeze(1)
y = idx(os.path.join(mnist, "t10k-labels-idx1-ubyte")).long()
with torch.no_grad():
    acc = (model(x).argmax(1) == y).float().mean().item()
zeros = sum((p == 0).sum().item() for n, p in model.named_parameters() if n.endswith("weight"))
total = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
print(json.dumps({"test_acc": acc, "sparsity": zeros / total}))
