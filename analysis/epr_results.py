"""Helpers shared by the analysis scripts (plot_pareto.py, plot_curves.py,
results_table.py): method families of a sweep table's method column and
their order, and writing a finished figure.

Imported from the scripts' own directory (each script puts it on sys.path),
so they run from any working directory.  Standard library only."""
import re

# EPR methods first (in this order, then any other epr-*), then the baselines
EPR_ORDER = ["epr-sq", "epr-dft", "epr-ro", "epr-learned"]
BASELINE_ORDER = ["float32", "gzip", "xz", "uniformN", "kmeansN", "prune-kmeans"]


def s(x):
    """An HDF5 string value (bytes or str) as str."""
    return x.decode() if isinstance(x, bytes) else str(x)


def family(method):
    """The method family: uniformN / kmeansN for all their bit counts, else the method itself."""
    m = re.fullmatch(r"(uniform|kmeans)\d+", method)
    return m.group(1) + "N" if m else method


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
