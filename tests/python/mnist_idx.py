"""Reads the uncompressed MNIST-style IDX files that `bapw data fetch` stores, for the Python
scripts next to this one (no torchvision needed)."""
import os
import struct

import torch

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    """One IDX file as a uint8 tensor of the shape its header gives (big-endian dims)."""
    with open(path, "rb") as f:
        ndim = struct.unpack(">I", f.read(4))[0] & 0xFF
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(dims)


def load_split(folder, split):
    """Images [N, 1, 28, 28] as float pixels in [0, 1] (no normalisation, as bapw) and
    labels [N] int64 of `split` ("train" or "test")."""
    images, labels = (os.path.join(folder, name) for name in FILES[split])
    x = read_idx(images).float().div(255).unsqueeze(1)
    return x, read_idx(labels).long()
