#!/usr/bin/python3
"""TEST FIXTURE GENERATOR — writes a *fake* run file (run.h5) with exactly the
schema that `epr train` writes at the end of a run (schema_version 1), so
`epr pareto`, `epr sweep` and the plotting scripts can be tested without
training.  Nothing here is a real result.

usage: make_run_fixture.py RUN_DIR [--model M] [--data D] [--lambda L]
           [--seed S] [--plain] [--size BYTES] [--error FRAC] [--incomplete]
           [--drop ATTR] [--steps N] [--transform T] [--prune FRAC] [--wall S]
RUN_DIR/run.h5 is written; for EPR runs also RUN_DIR/model.epr, a file of
--size bytes (filler), since the size reported must be the file's size.
--incomplete writes no /final group (an interrupted run); --drop ATTR leaves
one /final or root attribute out (a malformed file).  --transform T puts a
group with that transform into the stored experiment text and sets the
"method" attribute as `epr train` would (dft -> epr-dft); --prune FRAC a
[baseline] prune setting (a plain run trained with pruning: plain-pruned)."""
import argparse
import math
import os
import sys

import h5py
import numpy as np

PARAMS = {"lenet300-100": 266610, "lenet5-caffe": 431080}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--model", default="lenet300-100")
    ap.add_argument("--data", default="mnist10k")
    ap.add_argument("--experiment", default=None)
    ap.add_argument("--lambda", dest="lam", type=float, default=3e-6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--error", type=float, default=0.03)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--incomplete", action="store_true")
    ap.add_argument("--drop", default=None)
    ap.add_argument("--transform", default=None)
    ap.add_argument("--prune", type=float, default=None)
    ap.add_argument("--wall", type=float, default=12.5)
    a = ap.parse_args()

    n_params = PARAMS.get(a.model, 10000)
    f32 = 4 * n_params
    size = f32 if a.plain else (a.size if a.size is not None else 5000)
    exp = a.experiment or f"{a.model}_{a.data}"
    os.makedirs(a.run_dir, exist_ok=True)
    path = os.path.join(a.run_dir, "run.h5")
    with h5py.File(path, "w") as f:
        root = {
            "schema_version": np.int64(1),
            "code_version": "fixture",
            "experiment": f"; TEST FIXTURE\n[model]\nname = {a.model}\n"
                          + (f"[group.fc]\ntensors = fc1.weight\ntransform = {a.transform}\n" if a.transform else "")
                          + (f"[baseline]\nprune = {a.prune}\nprune_at = 10\n" if a.prune is not None else ""),
            "experiment_path": f"experiments/{exp}.ini",
            "experiment_name": exp,
            "model": a.model,
            "data_set": a.data,
            "epr_enabled": np.int64(0 if a.plain else 1),
            "lambda": float(a.lam),
            "seed": np.int64(a.seed),
            "world_size": np.int64(2),
            "steps": np.int64(a.steps),
            # what `epr train` records for studies (src/run/run_info.h)
            "method": ("plain-pruned" if a.prune else "plain") if a.plain
                      else "epr-" + {None: "sq", "identity": "sq", "dft": "dft", "random-orthogonal": "ro",
                                     "learned": "learned"}[a.transform],
        }
        for k, v in root.items():
            if k != a.drop:
                f.attrs[k] = v
        rows = 5
        step = np.linspace(0, a.steps, rows)
        nan = np.full(rows, math.nan)
        err_curve = np.linspace(0.5, a.error, rows)
        rate = nan if a.plain else np.linspace(8.0 * f32, 8.0 * size, rows)
        curves = {"step": step, "loss": np.linspace(2.3, 0.1, rows), "cross_entropy": np.linspace(2.3, 0.09, rows),
                  "rate_noisy_bits": rate, "rate_exact_bits": rate, "train_error": err_curve * 0.8,
                  "test_error": err_curve, "images_per_s": np.full(rows, 4000.0)}
        for k, v in curves.items():
            f.create_dataset(f"curves/{k}", data=np.asarray(v, dtype="f8"), maxshape=(None,), chunks=True)
        if not a.incomplete:
            g = f.create_group("final")
            fin = {
                "test_error": float(a.error),
                "test_error_raw": float(a.error) + 0.001,
                "size_bytes": np.int64(size),
                "float32_bytes": np.int64(f32),
                "n_params": np.int64(n_params),
                "n_compressed": np.int64(0 if a.plain else n_params),
                "bitstream": "" if a.plain else "model.epr",
                "wall_seconds": float(a.wall),
                "rate_exact_bits": math.nan if a.plain else 8.0 * size - 900,
            }
            for k, v in fin.items():
                if k != a.drop:
                    g.attrs[k] = v
    if not a.plain and not a.incomplete:
        with open(os.path.join(a.run_dir, "model.epr"), "wb") as b:
            b.write(b"EPRFIXTURE" + bytes(max(0, size - 10)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
