"""Measured SO(3) equivariance of gauge-equivariant networks on sphere meshes.

For each mesh family and refinement level and each connection, rotates a band-limited
signal by seeded random rotations on the fixed mesh and reports the relative errors
``|Phi(R f) - R Phi(f)| / |Phi(f)|`` (see :mod:`gaugemesh.sphere.equivariance`) of

* ``layer``: ``GemConv(1x0 -> 4x0 + 4x1 + 4x2)``, regular ReLU, invariant readout (norms),
  per-vertex scalars;
* ``net``: ``GemResNet`` (4 blocks, 8 fields of orders 0, 1, 2), per-vertex logits;
* ``net_pooled``: the same logits averaged over the sphere (lumped mass): one invariant vector;
* ``iso``, ``iso_pooled``: the same network with order-0 fields only (isotropic kernels);
* ``floor``: the identity, i.e. the error of the interpolation alone;
* ``layer_mf``, ``net_mf``: ``layer`` and ``net`` with :func:`moment_free_weights`, edge
  weights whose one-ring moments of orders 1 and 2 vanish (a diagnostic);

all with every parameter random (``gaugemesh.testing.randomize_parameters``; errors are
averaged over 3 such draws and 8 rotations), eval mode, float64. The connections are ``levi-civita``, ``projection`` and ``axis``: a control that is
*not* rotation invariant (frames aligned with a fixed direction in space and zero
transport in them, the connection of a lat-long CNN). Also the one-ring moments
(:func:`gaugemesh.sphere.one_ring_moments`) and, per series, the rate: the slope of
log(error) against log(mean edge length), fitted over every level but the coarsest.

    python -m experiments.sphere.equivariance          # writes docs/sphere_equivariance.png
                                                        # and experiments/sphere/equivariance.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import gaugemesh
from gaugemesh import GemResNet, mesh_to_data, validate_mesh
from gaugemesh.nn import ConvOperators, GemConv, InvariantReadout, RegularNonlinearity
from gaugemesh.so2 import FieldType
from gaugemesh.sphere import (
    mean_edge_length,
    one_ring_moments,
    random_rotations,
    random_sh_coefficients,
    rotation_equivariance_errors,
    sphere_mesh,
)
from gaugemesh.testing import randomize_parameters

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = ("levi-civita", "projection", "axis")
#: measured series: (key, probe, output kind, edge weights)
SERIES = (("layer", "layer", "vertex", "area"), ("net", "net", "vertex", "area"),
          ("net_pooled", "net", "invariant", "area"), ("iso", "iso", "vertex", "area"),
          ("iso_pooled", "iso", "invariant", "area"), ("floor", "identity", "vertex", "area"),
          ("layer_mf", "layer", "vertex", "moment-free"), ("net_mf", "net", "vertex", "moment-free"))
#: a generic direction: no vertex of the meshes used lies on its axis
AXIS = np.array([0.3, 0.5, 0.81]) / np.linalg.norm([0.3, 0.5, 0.81])


class LayerProbe(nn.Module):
    """``InvariantReadout(RegularNonlinearity(GemConv(1x0 -> hidden)))``: one layer with
    per-vertex scalar outputs (the scalars and the norms of the order-1 and -2 fields).

    Shapes:
        - data.x: ``[V, 1]``
        - output: ``[V, 3 * channels]``
    """

    def __init__(self, channels: int = 4, max_order: int = 2):
        super().__init__()
        hidden = FieldType.band(channels, max_order)
        self.conv = GemConv("1x0", hidden)
        self.act = RegularNonlinearity(hidden)
        self.readout = InvariantReadout(hidden, mode="norms")

    def forward(self, data, geometry: ConvOperators) -> torch.Tensor:
        return self.readout(self.act(self.conv(data.x, operators=geometry)))


def make_probes(seed: int) -> dict[str, nn.Module]:
    """The measured modules, float64, every parameter random (seeded), eval mode."""
    torch.manual_seed(seed)
    probes = {
        "layer": LayerProbe(),
        "net": GemResNet("1x0", 4, width=8, max_order=2, num_blocks=4),
        "iso": GemResNet("1x0", 4, width=8, max_order=0, num_blocks=4),
    }
    generator = torch.Generator().manual_seed(seed)
    for probe in probes.values():
        randomize_parameters(probe.double(), generator=generator).eval()
    return probes


def connection_data(family: str, level: int, connection: str, seed: int = 0):
    """``Data`` of the sphere mesh in float64; ``"axis"`` is the non-invariant control."""
    pos, faces = sphere_mesh(family, level, seed=seed)
    mesh = validate_mesh(pos, faces)
    if connection != "axis":
        return mesh_to_data(mesh, connection, dtype=torch.float64)
    normal = mesh.pos / np.linalg.norm(mesh.pos, axis=1, keepdims=True)
    e1 = AXIS - (normal @ AXIS)[:, None] * normal
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    frames = np.stack([e1, np.cross(normal, e1), normal], 1)
    data = mesh_to_data(mesh, "projection", frames=frames, dtype=torch.float64)
    data.transport = torch.zeros_like(data.transport)  # parallel = same angle to the axis
    return data


def moment_free_weights(data, orders: tuple[int, ...] = (1, 2)) -> torch.Tensor:
    """Edge weights with vanishing one-ring moments of ``orders``: per vertex, the smallest
    change (least squares) of the area weights such that ``sum_j w_ij = 1`` and
    ``sum_j w_ij exp(i k theta_ij) = 0`` for each ``k``. A diagnostic, not a recipe: some
    weights turn negative, and a vertex with fewer neighbours than constraints keeps the
    least-squares solution of its constraints.

    Shapes:
        returns ``[E]``, aligned with ``data.edge_index``.
    """
    target, theta = data.edge_index[1].numpy(), data.theta.double().numpy()
    weight = data.edge_weight.double().numpy().copy()
    start = np.searchsorted(target, np.arange(data.num_nodes + 1))  # edges are sorted by target
    valence = np.diff(start)
    for k in np.unique(valence):
        vertices = np.nonzero(valence == k)[0]
        edges = start[vertices][:, None] + np.arange(k)  # [n, k]
        t = theta[edges]
        rows = [np.ones_like(t)] + [f(m * t) for m in orders for f in (np.cos, np.sin)]
        a = np.stack(rows, 1)  # [n, 1 + 2 len(orders), k]
        b = np.zeros(a.shape[1])
        b[0] = 1.0
        residual = b - np.einsum("nck,nk->nc", a, weight[edges])
        gram = a @ a.transpose(0, 2, 1)
        lagrange = np.linalg.solve(gram + 1e-12 * np.eye(a.shape[1]), residual[..., None])[..., 0]
        weight[edges] += np.einsum("nck,nc->nk", a, lagrange)
    return torch.from_numpy(weight)


def measure_level(family: str, level: int, connection: str, networks: list[dict[str, nn.Module]],
                  coefficients: np.ndarray, rotations: np.ndarray, seed: int) -> dict:
    """Every series at one mesh: mean and max over the random networks and rotations, and
    the one-ring moments."""
    data = connection_data(family, level, connection, seed)
    pos, faces = data.pos.numpy(), data.face.T.numpy()
    moment_free = data.clone()
    moment_free.edge_weight = moment_free_weights(data)
    variants = {"area": (data, ConvOperators.from_data(data)),
                "moment-free": (moment_free, ConvOperators.from_data(moment_free))}
    mass = data.area

    def per_vertex(probes: dict[str, nn.Module], name: str, weights: str):
        graph, geometry = variants[weights]

        def run(x: torch.Tensor) -> torch.Tensor:
            if name == "identity":
                return x
            graph.x = x
            return probes[name](graph, geometry)
        return run

    def pooled(probes: dict[str, nn.Module], name: str, weights: str):
        def run(x: torch.Tensor) -> torch.Tensor:
            return (mass[:, None] * per_vertex(probes, name, weights)(x)).sum(0) / mass.sum()
        return run

    row = {"family": family, "level": level, "connection": connection, "vertices": int(data.num_nodes),
           "edge_length": mean_edge_length(pos, faces)}
    row["moment1"], row["moment2"] = (float(m) for m in one_ring_moments(data, (1, 2)))
    start = time.perf_counter()
    for key, probe, output, weights in SERIES:
        errors = np.concatenate([
            rotation_equivariance_errors((per_vertex if output == "vertex" else pooled)(probes, probe, weights),
                                         pos, faces, coefficients, rotations, output=output)
            for probes in (networks if probe != "identity" else networks[:1])])
        row[key], row[key + "_max"] = float(errors.mean()), float(errors.max())
    row["seconds"] = time.perf_counter() - start
    return row


def fit_rate(edge_length: list[float], error: list[float]) -> float:
    """Slope of ``log(error)`` against ``log(edge_length)``: error ~ h^rate."""
    return float(np.polyfit(np.log(edge_length), np.log(error), 1)[0])


def rates(rows: list[dict], finest: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    """``rates[family][connection][series]``, fitted over every level but the coarsest
    (``finest``: between the two finest levels only, the rate the errors approach)."""
    out: dict = {}
    for family in dict.fromkeys(r["family"] for r in rows):
        for connection in dict.fromkeys(r["connection"] for r in rows):
            series = sorted((r for r in rows if r["family"] == family and r["connection"] == connection),
                            key=lambda r: r["level"])[-2 if finest else 1:]
            if len(series) >= 2:
                out.setdefault(family, {})[connection] = {
                    key: fit_rate([r["edge_length"] for r in series], [r[key] for r in series]) for key, *_ in SERIES}
    return out


def format_table(rows: list[dict], fitted: dict, finest: dict) -> str:
    """A Markdown table of the mean errors over networks and rotations, then the fitted rates."""
    keys = [key for key, *_ in SERIES]
    lines = ["| family | connection | level | V | h | " + " | ".join(keys) + " | m1 | m2 |",
             "|---|---|---:|---:|---:|" + "---:|" * (len(keys) + 2)]
    for r in rows:
        lines.append(f"| {r['family']} | {r['connection']} | {r['level']} | {r['vertices']:,} | {r['edge_length']:.3f} | "
                     + " | ".join(f"{r[key]:.2e}" for key in keys) + f" | {r['moment1']:.3f} | {r['moment2']:.3f} |")
    for title, table in (("levels after the coarsest", fitted), ("two finest levels", finest)):
        lines += ["", f"Rates (slope of log error vs log h, {title}):", "",
                  "| family | connection | " + " | ".join(keys) + " |", "|---|---|" + "---:|" * len(keys)]
        for family, per_connection in table.items():
            for connection, series in per_connection.items():
                lines.append(f"| {family} | {connection} | " + " | ".join(f"{series[k]:.2f}" for k in keys) + " |")
    return "\n".join(lines)


#: colours of the series in the plot; the controls (other connections) are drawn for these only
COLOURS = {"layer": "tab:purple", "net": "tab:blue", "net_pooled": "tab:cyan", "iso": "tab:orange",
           "iso_pooled": "tab:red", "floor": "gray", "layer_mf": "tab:pink", "net_mf": "tab:green"}
CONTROL_SERIES = ("layer", "net_pooled")


def plot(rows: list[dict], fitted: dict, path: Path) -> None:
    """Log-log error against edge length, one panel per family: every series for the
    Levi-Civita connection (solid, fitted rate in the legend), ``layer`` and
    ``net_pooled`` for the projection (dotted) and axis (dashed) connections."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(r["family"] for r in rows))
    fig, axes = plt.subplots(1, len(families), figsize=(5.4 * len(families), 5.0), squeeze=False, sharey=True)
    styles = {"levi-civita": "-", "projection": ":", "axis": "--"}
    for ax, family in zip(axes[0], families):
        for connection in dict.fromkeys(r["connection"] for r in rows):
            series = sorted((r for r in rows if r["family"] == family and r["connection"] == connection),
                            key=lambda r: r["level"])
            h = [r["edge_length"] for r in series]
            for key, *_ in SERIES:
                if connection != "levi-civita" and key not in CONTROL_SERIES:
                    continue
                rate = fitted.get(family, {}).get(connection, {}).get(key)
                label = f"{key} (rate {rate:.2f})" if connection == "levi-civita" and rate is not None else None
                ax.loglog(h, [r[key] for r in series], styles.get(connection, "-"), color=COLOURS[key],
                          marker="o" if connection == "levi-civita" else None, markersize=3, label=label)
        ax.set_title(f"{family}: levi-civita solid, projection dotted, axis control dashed", fontsize=8)
        ax.set_xlabel("mean edge length h (levels 1, 2, ...)")
        ax.set_xticks(h, [f"{x:.2g}" for x in h])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0][0].set_ylabel("relative error |Phi(Rf) - R Phi(f)| / |Phi(f)|")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plain(args: dict) -> dict:
    """Arguments as JSON values, paths relative to the repository when inside it."""
    def plain(value):
        if isinstance(value, Path):
            return str(value.relative_to(ROOT)) if value.is_relative_to(ROOT) else str(value)
        return value
    return {key: plain(value) for key, value in args.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["icosphere", "uv", "jittered"])
    parser.add_argument("--levels", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--connections", nargs="+", default=list(CONNECTIONS), choices=CONNECTIONS)
    parser.add_argument("--rotations", type=int, default=8)
    parser.add_argument("--networks", type=int, default=3, help="random parameter draws per probe")
    parser.add_argument("--l-max", type=int, default=6, help="bandwidth of the input signal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=ROOT / "experiments" / "sphere" / "equivariance.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "sphere_equivariance.png")
    parser.add_argument("--from-json", type=Path, help="redraw the table and plot of an earlier run, measure nothing")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        result = json.loads(args.from_json.read_text())
        print(format_table(result["rows"], rates(result["rows"]), rates(result["rows"], finest=True)))
        plot(result["rows"], rates(result["rows"]), args.plot)
        return result
    torch.set_num_threads(args.threads)
    networks = [make_probes(args.seed + k) for k in range(args.networks)]
    coefficients = random_sh_coefficients(args.l_max, channels=1, seed=args.seed + 1)
    rotations = random_rotations(args.rotations, seed=args.seed + 2)
    rows, start = [], time.perf_counter()
    for family in args.families:
        for connection in args.connections:
            for level in args.levels:
                rows.append(measure_level(family, level, connection, networks, coefficients, rotations, args.seed))
                r = rows[-1]
                print(f"{family:9s} {connection:11s} level {level}: V={r['vertices']:6d} net {r['net']:.2e} "
                      f"pooled {r['net_pooled']:.2e} layer {r['layer']:.2e} ({r['seconds']:.1f} s)", flush=True)
    fitted, finest = rates(rows), rates(rows, finest=True)
    print(format_table(rows, fitted, finest))
    result = {"command": "python -m experiments.sphere.equivariance", "args": _plain(vars(args)),
              "gaugemesh": gaugemesh.__version__, "torch": torch.__version__, "machine": platform.machine(),
              "seconds": time.perf_counter() - start, "rows": rows, "rates": fitted, "rates_finest": finest}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    plot(rows, fitted, args.plot)
    print(f"wrote {args.json} and {args.plot} in {result['seconds']:.0f} s")
    return result


if __name__ == "__main__":
    main()
