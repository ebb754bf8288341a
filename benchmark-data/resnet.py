"""A ResNet-50 with seeded random weights, written in PyTorch's checkpoint format without torch.

411.image-recognition loads `resnet50-seeded.pth` with `torch.load` and torchvision's resnet50;
SeBS downloads ImageNet-trained weights instead. The inference costs the same (same layers, same
arithmetic), so timings are real; the predicted labels mean nothing.

Weights follow torchvision's own initialisation: convolutions He-normal (fan-out), batch norms
weight 1, bias 0, running mean 0, running variance 1, the classifier uniform in ±1/sqrt(2048).

The file is a ZIP archive (stored, not compressed) holding `archive/data.pkl`, a pickle (protocol
2) of an OrderedDict from parameter name to tensor, each tensor rebuilt by
`torch._utils._rebuild_tensor_v2` from a storage that the pickle refers to by persistent id
`('storage', torch.FloatStorage, '<n>', 'cpu', numel)`; the storage's little-endian bytes are
`archive/data/<n>`; `archive/byteorder` and `archive/version` complete it.
"""

import struct
import zipfile

import numpy as np

LAYERS = (3, 4, 6, 3)  # bottleneck blocks per stage
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
CLASSES = 1000


def _conv(name, out_ch, in_ch, k):
    return [(f"{name}.weight", "conv", (out_ch, in_ch, k, k))]


def _bn(name, ch):
    return [(f"{name}.{p}", p, (ch,)) for p in ("weight", "bias", "running_mean", "running_var")] + [
        (f"{name}.num_batches_tracked", "num_batches_tracked", ())
    ]


def parameters():
    """(name, kind, shape) of torchvision's resnet50 state dict, in its order."""
    params = _conv("conv1", 64, 3, 7) + _bn("bn1", 64)
    in_ch = 64
    for stage, (blocks, width) in enumerate(zip(LAYERS, WIDTHS), start=1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            out_ch = width * EXPANSION
            params += _conv(f"{p}.conv1", width, in_ch, 1) + _bn(f"{p}.bn1", width)
            params += _conv(f"{p}.conv2", width, width, 3) + _bn(f"{p}.bn2", width)
            params += _conv(f"{p}.conv3", out_ch, width, 1) + _bn(f"{p}.bn3", out_ch)
            if b == 0:
                params += _conv(f"{p}.downsample.0", out_ch, in_ch, 1) + _bn(f"{p}.downsample.1", out_ch)
            in_ch = out_ch
    params += [("fc.weight", "fc", (CLASSES, in_ch)), ("fc.bias", "fc", (CLASSES,))]
    return params


def _values(rng, kind, shape):
    if kind == "conv":
        fan_out = shape[0] * shape[2] * shape[3]
        return rng.normal(0.0, np.sqrt(2.0 / fan_out), size=shape).astype("<f4")
    if kind == "fc":
        bound = 1.0 / np.sqrt(2048)
        return rng.uniform(-bound, bound, size=shape).astype("<f4")
    if kind == "num_batches_tracked":
        return np.zeros(shape, dtype="<i8")
    fill = 1.0 if kind in ("weight", "running_var") else 0.0
    return np.full(shape, fill, dtype="<f4")


class _Pickle:
    """Just enough of the pickle protocol (2) to write a state dict as torch.save does."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")  # PROTO 2

    def global_(self, module, name):
        self.out += b"c" + f"{module}\n{name}\n".encode()

    def text(self, s):
        data = s.encode()
        self.out += b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE

    def int_(self, n):
        self.out += b"J" + struct.pack("<i", n)  # BININT

    def tuple_(self, items):
        self.out += b"("  # MARK
        for item in items:
            self.int_(item)
        self.out += b"t"  # TUPLE

    def ordered_dict(self):
        self.global_("collections", "OrderedDict")
        self.out += b")R"  # EMPTY_TUPLE, REDUCE

    def tensor(self, key, storage_type, shape):
        numel = int(np.prod(shape, dtype=np.int64))
        strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.out += b"("  # MARK: the arguments
        self.out += b"("  # MARK: the persistent id of the storage
        self.text("storage")
        self.global_("torch", storage_type)
        self.text(key)
        self.text("cpu")
        self.int_(numel)
        self.out += b"tQ"  # TUPLE, BINPERSID
        self.int_(0)  # storage offset
        self.tuple_(shape)
        self.tuple_(strides)
        self.out += b"\x89"  # NEWFALSE: requires_grad
        self.ordered_dict()  # backward hooks
        self.out += b"tR"  # TUPLE, REDUCE


def write(path, seed):
    """Writes the checkpoint to `path`; returns the number of parameters."""
    rng = np.random.default_rng(seed)
    pickle = _Pickle()
    pickle.ordered_dict()
    pickle.out += b"("  # MARK: the items
    total = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for n, (name, kind, shape) in enumerate(parameters()):
            values = _values(rng, kind, shape)
            total += values.size
            archive.writestr(f"archive/data/{n}", values.tobytes())
            pickle.text(name)
            pickle.tensor(str(n), "LongStorage" if values.dtype.kind == "i" else "FloatStorage", shape)
        pickle.out += b"u."  # SETITEMS, STOP
        archive.writestr("archive/data.pkl", bytes(pickle.out))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    return total
