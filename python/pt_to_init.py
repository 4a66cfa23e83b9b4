#!/usr/bin/python3
"""python/pt_to_init.py — a PyTorch state_dict (.pt) as the weights file of
`[model] init = FILE` (.npz or .safetensors, float32).

    /usr/bin/python3 python/pt_to_init.py model.pt -o init.npz

Names: torchvision-style keys become epr's tensor names (layer1.0.conv1.weight
-> layer1_0_conv1.weight, layer1.0.downsample.0/1 -> layer1_0_downsample /
layer1_0_downsample_bn; other names are kept), num_batches_tracked is dropped.
--drop-unit-gamma drops a batch norm's weight (gamma) when every value is
exactly 1, for a network whose batch norms have gamma fixed at 1 (epr's
default; `batchnorm affine=1` learns it).  The .pt may hold a state_dict or a
dict with one under "state_dict" or "model".  Needs Debian's python3-torch;
`epr train` reports any tensor that does not match the network by name and
shape."""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eprfile  # noqa: E402


def convert(state, drop_unit_gamma=False):
    """An OrderedDict of tensors -> dict epr name -> float32 ndarray."""
    out = {}
    bn = {k[:-len(".running_mean")] for k in state if k.endswith(".running_mean")}
    for k, v in state.items():
        if k.endswith(".num_batches_tracked"):
            continue
        a = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
        if drop_unit_gamma and k.endswith(".weight") and k[:-len(".weight")] in bn and np.all(a == 1):
            continue
        name = eprfile.epr_names(k)
        if name in out:
            raise SystemExit("pt_to_init: two keys map to %s" % name)
        out[name] = np.ascontiguousarray(a, dtype=np.float32)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pt", help="a torch.save'd state_dict")
    ap.add_argument("-o", "--out", required=True, help="OUT.npz or OUT.safetensors")
    ap.add_argument("--drop-unit-gamma", action="store_true")
    a = ap.parse_args()
    import torch
    state = torch.load(a.pt, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    arrays = convert(state, a.drop_unit_gamma)
    if os.path.exists(a.out):
        raise SystemExit("pt_to_init: %s exists; not overwriting it" % a.out)
    tmp = a.out + ".tmp.%d" % os.getpid()
    if a.out.endswith(".npz"):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    elif a.out.endswith(".safetensors"):
        eprfile.write_safetensors(tmp, arrays)
    else:
        raise SystemExit("pt_to_init: the output must end in .npz or .safetensors")
    os.replace(tmp, a.out)
    print("wrote %s: %d tensors (%s)" % (a.out, len(arrays), ", ".join(arrays)))


if __name__ == "__main__":
    main()
