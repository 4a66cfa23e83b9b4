"""Helpers shared by the analysis scripts (plot_pareto.py, plot_curves.py,
results_table.py): method families of a sweep table's method column and
their order, the paper's Table 1 (data/paper_table1.tsv, the one copy that
`epr pareto` embeds too), and writing a finished figure.

Imported from the scripts' own directory (each script puts it on sys.path),
so they run from any working directory.  Standard library only."""
import csv
import os
import re

# EPR methods first (in this order, then any other epr-*), then the baselines
EPR_ORDER = ["epr-sq", "epr-dft", "epr-ro", "epr-learned"]
BASELINE_ORDER = ["float32", "gzip", "xz", "uniformN", "uniformNt", "kmeansN", "kmeansNt", "prune-kmeans"]


def s(x):
    """An HDF5 string value (bytes or str) as str."""
    return x.decode() if isinstance(x, bytes) else str(x)


def family(method):
    """The method family: uniformN / kmeansN (uniformNt / kmeansNt per tensor) for all their bit counts,
    else the method itself."""
    m = re.fullmatch(r"(uniform|kmeans)\d+(t?)", method)
    return m.group(1) + "N" + m.group(2) if m else method


def family_key(fam):
    """Sort key of a method family: EPR_ORDER, other EPR methods, BASELINE_ORDER, then anything else."""
    if fam in EPR_ORDER:
        return (0, EPR_ORDER.index(fam), fam)
    if fam.startswith("epr"):
        return (0, 9, fam)
    if fam in BASELINE_ORDER:
        return (1, BASELINE_ORDER.index(fam), fam)
    return (100, 0, fam)


def save_figure(fig, path, dpi):
    """Lay out a finished matplotlib figure, write it to path and say so."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    print(f"wrote {path}")


PAPER_TSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "paper_table1.tsv")
_PAPER = None


def paper_table():
    """The rows of data/paper_table1.tsv as dicts (numbers as float); sizes in bytes, errors in %."""
    global _PAPER
    if _PAPER is None:
        with open(PAPER_TSV, newline="") as f:
            rows = list(csv.DictReader((l for l in f if not l.startswith("#")), delimiter="\t"))
        for r in rows:
            for k in ("float32_bytes", "float32_error", "epr_bytes", "epr_error", "ratio"):
                r[k] = float(r[k])
        _PAPER = rows
    return _PAPER


def paper_data_of(data_set):
    """The paper's data set that ours is compared with (as study/paper.c): mnist10k -> mnist, cifar10; else None."""
    return {"mnist10k": "mnist", "mnist": "mnist", "cifar10": "cifar10"}.get(data_set)


def paper_lookup(model, data_set):
    """(row, note) of Table 1 for a network on one of our data sets, or (None, ""): note is "full MNIST"
    when ours is MNIST-10k (the paper trained on the full MNIST); never for Fashion-MNIST."""
    data = paper_data_of(data_set)
    for r in paper_table():
        if data and r["model"] == model and r["data"] == data:
            return r, ("full MNIST" if data_set != data else "")
    return None, ""
