"""eprfile — read .epr bitstreams into NumPy (and PyTorch) through libepr-codec.

Only NumPy is needed: the C library is loaded with ctypes, so a file is
decoded by exactly the code that `epr eval` uses.  Errors of the library
arrive as EprError with its message (which names the file and what is wrong).

    import eprfile
    m = eprfile.read("model.epr")          # an EprModel
    m.tensors["fc1.weight"]                # numpy float32, the file's shape
    m.arch                                 # the architecture text (str)
    logits = eprfile.forward(m, images)    # NumPy forward pass (uint8 images)
    sd = eprfile.torch_state_dict(m)       # torchvision-style names, torch tensors

The library is found through $EPR_CODEC_LIB (a path to libepr-codec.so),
else next to this package in ../../build/ (a source tree's build), else by
the system's loader (an installed libepr-codec).  See python/eprfile/README.md.
"""
import ctypes
import ctypes.util
import os
import re

import numpy as np

__all__ = ["EprError", "EprModel", "read", "read_bytes", "parse_arch", "forward", "torch_names", "epr_names",
           "torch_state_dict", "write_safetensors", "load_library", "read_idx_images", "read_idx_labels"]

EPR_MAX_NDIM = 4


class EprError(Exception):
    """An error reported by libepr-codec (code: its negative EPR_E* status)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class _Err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("ndim", ctypes.c_int), ("shape", ctypes.c_int64 * EPR_MAX_NDIM),
                ("n_elements", ctypes.c_int64), ("group", ctypes.c_int), ("compressed", ctypes.c_int),
                ("stored_bytes", ctypes.c_size_t)]


_LIB = None


def _candidates():
    env = os.environ.get("EPR_CODEC_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for build in ("build", "build-codec"):
        yield os.path.join(here, "..", "..", build, "libepr-codec.so")
    found = ctypes.util.find_library("epr-codec")
    if found:
        yield found


def load_library(path=None):
    """Loads libepr-codec (path, or the search above) once and returns it."""
    global _LIB
    if _LIB is not None and path is None:
        return _LIB
    tried = []
    for p in ([path] if path else list(_candidates())):
        if p and (os.path.exists(p) or not os.path.isabs(p)):
            try:
                lib = ctypes.CDLL(p)
                break
            except OSError as e:
                tried.append("%s (%s)" % (p, e))
        else:
            tried.append("%s (absent)" % p)
    else:
        raise OSError("libepr-codec not found; build it (cmake --build build --target epr-codec) or set "
                      "EPR_CODEC_LIB; tried: " + "; ".join(tried))
    vp, sz, ip = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    lib.epr_file_open_memory.argtypes = [ctypes.c_char_p, sz, ctypes.POINTER(vp), ctypes.POINTER(_Err)]
    lib.epr_file_open_memory.restype = ip
    lib.epr_file_close.argtypes = [vp]
    lib.epr_file_close.restype = None
    lib.epr_file_arch.argtypes = [vp, ctypes.POINTER(sz)]
    lib.epr_file_arch.restype = ctypes.POINTER(ctypes.c_char)
    lib.epr_file_tensor_count.argtypes = [vp]
    lib.epr_file_tensor_count.restype = ip
    lib.epr_file_tensor_info.argtypes = [vp, ip, ctypes.POINTER(_TensorInfo), ctypes.POINTER(_Err)]
    lib.epr_file_tensor_info.restype = ip
    lib.epr_file_decode_tensor.argtypes = [vp, ip, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(_Err)]
    lib.epr_file_decode_tensor.restype = ip
    if path is None:
        _LIB = lib
    return lib


class EprModel:
    """A decoded file: tensors (name -> float32 ndarray, in file order),
    compressed (names of the entropy-coded ones; the rest are float32
    extras such as batch-norm running statistics), arch (the text)."""

    def __init__(self, tensors, compressed, arch):
        self.tensors = tensors
        self.compressed = compressed
        self.arch = arch

    def __repr__(self):
        return "EprModel(%d tensors, %d compressed)" % (len(self.tensors), len(self.compressed))


def _check(rc, err):
    if rc != 0:
        raise EprError(rc, err.msg.decode("utf-8", "replace"))


def read_bytes(data, name="<memory>", lib=None):
    """Decodes the bytes of a .epr file (name is used in messages)."""
    lib = lib or load_library()
    err = _Err()
    f = ctypes.c_void_p()
    rc = lib.epr_file_open_memory(data, len(data), ctypes.byref(f), ctypes.byref(err))
    if rc != 0:
        raise EprError(rc, "%s: %s" % (name, err.msg.decode("utf-8", "replace")))
    try:
        n = ctypes.c_size_t()
        p = lib.epr_file_arch(f, ctypes.byref(n))
        arch = ctypes.string_at(p, n.value).decode("utf-8")
        tensors, compressed = {}, []
        for i in range(lib.epr_file_tensor_count(f)):
            info = _TensorInfo()
            _check(lib.epr_file_tensor_info(f, i, ctypes.byref(info), ctypes.byref(err)), err)
            tname = info.name.decode("utf-8")
            shape = tuple(info.shape[d] for d in range(info.ndim))
            out = np.empty(info.n_elements, dtype=np.float32)
            rc = lib.epr_file_decode_tensor(f, i, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                            ctypes.byref(err))
            if rc != 0:
                raise EprError(rc, "%s: %s" % (name, err.msg.decode("utf-8", "replace")))
            tensors[tname] = out.reshape(shape)
            if info.compressed:
                compressed.append(tname)
        return EprModel(tensors, compressed, arch)
    finally:
        lib.epr_file_close(f)


def read(path, lib=None):
    """Decodes a .epr file: an EprModel (tensors, compressed, arch)."""
    with open(path, "rb") as fh:
        data = fh.read()
    return read_bytes(data, str(path), lib)


# ---------------------------------------------------------------------------
# The harness's architecture text (docs/format.md sections 6-7)
# ---------------------------------------------------------------------------

_DEFAULTS = {
    "dense": {"bias": 1}, "conv": {"stride": 1, "pad": 0, "bias": 1}, "maxpool": {"pad": 0}, "avgpool": {},
    "gap": {}, "relu": {}, "batchnorm": {"momentum": 0.1, "eps": 1e-5, "affine": 0}, "add": {}, "flatten": {},
}


def parse_arch(text):
    """The architecture text as a dict: input (C, H, W), normalize (None or
    (mean, std) float32 arrays) and layers (a list of dicts with type, name,
    in, and the keys of docs/format.md section 6, defaults filled in)."""
    lines = text.split("\n", 4)
    if len(lines) < 5 or lines[0] != "epr-arch 1" or lines[3] != "layers":
        raise ValueError("not an epr architecture text (epr-arch 1)")
    inp = lines[1].split()
    if inp[0] != "input":
        raise ValueError("architecture text: bad 'input' line")
    c, h, w = (int(v) for v in inp[1:4])
    norm = lines[2].split()
    normalize = None
    if norm[0] != "normalize":
        raise ValueError("architecture text: bad 'normalize' line")
    if int(norm[1]):
        nc = int(norm[1])
        vals = np.array([np.float32(v) for v in norm[2:2 + 2 * nc]], dtype=np.float32)
        normalize = (vals[:nc], vals[nc:])
    layers = []
    spec = re.sub(r"#[^\n]*", "", lines[4])
    for entry in re.split(r"[;\n]", spec):
        tok = entry.split()
        if not tok:
            continue
        kind = tok[0]
        if kind not in _DEFAULTS:
            raise ValueError("architecture text: unknown layer type %r" % kind)
        L = dict(_DEFAULTS[kind])
        L["type"] = kind
        for kv in tok[1:]:
            k, v = kv.split("=", 1)
            L[k] = v if k in ("name", "in", "with") else float(v) if k in ("momentum", "eps") else int(v)
        if kind in ("maxpool", "avgpool") and "stride" not in L:
            L["stride"] = L["k"]
        L.setdefault("name", "%s%d" % (kind, len(layers) + 1))
        layers.append(L)
    return {"input": (c, h, w), "normalize": normalize, "layers": layers}


def _scale_input(images, arch):
    """uint8 images [n, C, H, W] (or [n, H, W]) -> float32 as epr scales them."""
    c, h, w = arch["input"]
    x = np.asarray(images).reshape(-1, c, h, w).astype(np.float32) / np.float32(255.0)
    if arch["normalize"] is not None:
        mean, std = arch["normalize"]
        x = (x - mean.reshape(1, c, 1, 1)) / std.reshape(1, c, 1, 1)
    return x


def _im2col(x, k, stride, pad):
    n, c, h, w = x.shape
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    s = x.strides
    cols = np.lib.stride_tricks.as_strided(x, (n, c, k, k, oh, ow), (s[0], s[1], s[2], s[3], s[2] * stride,
                                                                         s[3] * stride))
    return cols, oh, ow


def forward(model, images, arch=None):
    """NumPy forward pass of an EprModel (or a dict of tensors plus arch, a
    text or parse_arch's dict) on uint8 images; returns float32 logits
    [n, classes].  Predictions: logits.argmax(1) (the lowest index on ties,
    as epr eval)."""
    tensors = model.tensors if isinstance(model, EprModel) else model
    arch = arch if arch is not None else model.arch
    if isinstance(arch, str):
        arch = parse_arch(arch)
    x = _scale_input(images, arch)
    outs = {"input": x}
    prev = x
    f32 = np.float32
    for L in arch["layers"]:
        src = outs[L["in"]] if "in" in L else prev
        t, name = L["type"], L["name"]
        if t == "dense":
            y = src.reshape(src.shape[0], -1) @ tensors[name + ".weight"].T
            if L["bias"]:
                y = y + tensors[name + ".bias"]
            y = y.reshape(y.shape[0], -1, 1, 1)
        elif t == "conv":
            W = tensors[name + ".weight"]
            cols, oh, ow = _im2col(src, L["k"], L["stride"], L["pad"])
            y = np.einsum("ncabij,ocab->noij", cols, W, optimize=True).astype(f32)
            if L["bias"]:
                y = y + tensors[name + ".bias"].reshape(1, -1, 1, 1)
        elif t in ("maxpool", "avgpool"):
            k, s, p = L["k"], L["stride"], L.get("pad", 0)
            if t == "maxpool" and p:
                src = np.pad(src, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
            cols, oh, ow = _im2col(src, k, s, 0)
            y = cols.max(axis=(2, 3)) if t == "maxpool" else cols.sum(axis=(2, 3)) * f32(1.0 / (k * k))
        elif t == "gap":
            y = src.sum(axis=(2, 3), keepdims=True) * f32(1.0 / (src.shape[2] * src.shape[3]))
        elif t == "relu":
            y = np.maximum(src, f32(0))
        elif t == "flatten":
            y = src.reshape(src.shape[0], -1, 1, 1)
        elif t == "batchnorm":
            inv = f32(1) / np.sqrt(tensors[name + ".running_var"] + f32(L["eps"]))
            y = (src - tensors[name + ".running_mean"].reshape(1, -1, 1, 1)) * inv.reshape(1, -1, 1, 1)
            if L["affine"]:  # learnable gamma (docs/format.md section 7)
                y = y * tensors[name + ".weight"].reshape(1, -1, 1, 1)
            y = y + tensors[name + ".bias"].reshape(1, -1, 1, 1)
        elif t == "add":
            y = src + outs[L["with"]]
        else:
            raise ValueError("layer type %r" % t)
        y = y.astype(f32, copy=False)
        outs[name] = y
        prev = y
    return prev.reshape(prev.shape[0], -1)


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

def torch_names(name):
    """A tensor name of the built-in networks in torchvision's state-dict
    style: layer1_0_conv1.weight -> layer1.0.conv1.weight,
    layer2_0_downsample.weight -> layer2.0.downsample.0.weight,
    layer2_0_downsample_bn.bias -> layer2.0.downsample.1.bias; names without
    a layerI_J_ prefix (conv1, bn1, fc, fc1 ...) are already the same."""
    layer, _, leaf = name.rpartition(".")
    m = re.fullmatch(r"layer(\d+)_(\d+)_(.+)", layer)
    if not m:
        return name
    rest = m.group(3)
    rest = {"downsample": "downsample.0", "downsample_bn": "downsample.1"}.get(rest, rest)
    return "layer%s.%s.%s.%s" % (m.group(1), m.group(2), rest, leaf)


def epr_names(name):
    """The inverse of torch_names: a torchvision-style state-dict key as the
    tensor name of epr's built-in networks (layer1.0.conv1.weight ->
    layer1_0_conv1.weight, layer2.0.downsample.1.bias ->
    layer2_0_downsample_bn.bias)."""
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.(.+)\.([^.]+)", name)
    if not m:
        return name
    rest = {"downsample.0": "downsample", "downsample.1": "downsample_bn"}.get(m.group(3), m.group(3))
    return "layer%s_%s_%s.%s" % (m.group(1), m.group(2), rest.replace(".", "_"), m.group(4))


def write_safetensors(path, arrays):
    """Writes a dict name -> array as float32 .safetensors (no library needed)."""
    import json
    header, offset, blobs = {}, 0, []
    for k, v in arrays.items():
        a = np.ascontiguousarray(v, dtype="<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little"))
        fh.write(text)
        for b in blobs:
            fh.write(b)


def torch_state_dict(model, batchnorm_gamma=True, num_batches_tracked=True):
    """A PyTorch state_dict (an OrderedDict of torch tensors) of an EprModel
    or a dict of arrays, with torchvision-style names (torch_names).  For
    every batch norm (a .running_mean) without a stored gamma, a weight of
    ones is added (epr's gamma fixed at 1) when batchnorm_gamma, and
    num_batches_tracked = 0 when num_batches_tracked, so that
    torch.nn.BatchNorm2d loads it strictly."""
    import collections
    import torch
    tensors = model.tensors if isinstance(model, EprModel) else model
    sd = collections.OrderedDict()
    for k, v in tensors.items():
        sd[torch_names(k)] = torch.from_numpy(np.array(v, dtype=np.float32))
    for k, v in tensors.items():
        if k.endswith(".running_mean"):
            base = torch_names(k)[:-len(".running_mean")]
            if batchnorm_gamma and base + ".weight" not in sd:
                sd[base + ".weight"] = torch.ones(v.shape[0])
            if num_batches_tracked:
                sd[base + ".num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return sd


# ---------------------------------------------------------------------------
# IDX files (MNIST), for tests and examples
# ---------------------------------------------------------------------------

def _idx(path, ndim):
    import gzip
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 + 4 * ndim or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise ValueError("%s: not an IDX file of %d dimensions of bytes" % (path, ndim))
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    n = int(np.prod(dims))
    if len(data) != 4 + 4 * ndim + n:
        raise ValueError("%s: %d bytes, its header needs %d" % (path, len(data), 4 + 4 * ndim + n))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_idx_images(path):
    """IDX images (raw or .gz) -> uint8 [n, H, W]."""
    return _idx(path, 3)


def read_idx_labels(path):
    """IDX labels -> uint8 [n]."""
    return _idx(path, 1)
