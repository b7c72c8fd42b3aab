"""The PyTorch twin of bapw's LeNet-5 (same names and layouts) and a checkpoint loader, shared
by the cross-check scripts. This is also what the README shows users."""
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


def load_checkpoint(path):
    """A bapw checkpoint as an eval-mode LeNet5: the `_mask` tensors are dropped (the pruned
    weights are already zero) and every other name and shape must match (strict)."""
    model = LeNet5()
    state = {k: v for k, v in load_file(path).items() if not k.endswith("_mask")}
    model.load_state_dict(state)
    return model.eval()


def load_case(weights, images):
    """What a cross-check compares on: the checkpoint `weights` as a LeNet5, the images "x"
    [N,1,28,28] in [0,1] and labels "y" [N] int64 of the safetensors file `images`, and
    `acc(batch)`, the fraction of a batch of those N images the model classifies as y."""
    model = load_checkpoint(weights)
    data = load_file(images)
    x, y = data["x"], data["y"]

    def acc(batch):
        with torch.no_grad():
            return (model(batch).argmax(1) == y).float().mean().item()

    return model, x, y, acc
