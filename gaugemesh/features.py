"""The catalogue of input features, each with its declared :class:`~gaugemesh.FieldType`.

A feature is named (``"xyz"``, ``"hks"``, ``"curvature"``, ``"diffused_curvature"``,
``"hks_grad"``) and declares its field type; :func:`compute_features` concatenates the
requested ones and gives their type as a string. Scalar (order 0) features come first, in the
order asked for, then order-1 features, so the type reads ``"<n>x0 + <m>x1"``.

Each feature also declares its O(2) type (:class:`~gaugemesh.o2.O2FieldType`), for the frames
of ``structure_group="O2"`` (``docs/o2.md``), in the same layout: positions, the HKS and the
Gaussian curvature are invariant (``0``: reflecting a tangent frame moves no point and changes
no intrinsic quantity), the mean curvature is a pseudo-scalar (``0-``: signed by the normal,
which a reflected frame turns over; diffused too, as heat flow is linear and intrinsic), the
HKS gradient is an order-1 vector (``1``) in the possibly reflected frames. ``"hks, curvature, hks_grad"`` reads ``"16x0 + 1x0- + 1x0 + 4x1"``.

Everything here is float64 numpy (:mod:`gaugemesh.geometry.descriptors`), without torch, so
that the command line can list the features without importing it;
:func:`gaugemesh.mesh_to_data` hands them to torch with the frame field, as ``data.x`` and
``data.x_type``. The intrinsic features (all but ``"xyz"``) see each connected component as
a mesh of its own, so stray floating pieces change nothing elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from gaugemesh.geometry.components import component_spectra
from gaugemesh.geometry.descriptors import HKS_TIMES, curvature_features, diffused_curvature_features, hks
from gaugemesh.geometry.gradients import hks_gradient
from gaugemesh.geometry.laplacian import lumped_mass

__all__ = ["FEATURES", "DEFAULT_FEATURES", "STRUCTURE_GROUPS", "FeatureOptions", "Feature", "feature_names",
           "feature_type", "feature_type_string", "compute_features", "resolve_features"]

DEFAULT_FEATURES = ("hks", "curvature", "hks_grad")

#: The structure groups a feature's type can be stated for (see :func:`feature_type_string`).
STRUCTURE_GROUPS = ("SO2", "O2")


@dataclass(frozen=True)
class FeatureOptions:
    """Parameters shared by the features (part of every cache key).

    Attributes:
        hks_count: Number of HKS times of ``"hks"``.
        grad_count: Number of HKS times whose gradient ``"hks_grad"`` gives.
        eigs: Number of Laplacian eigenpairs, per connected component.
        t_range: HKS time range in units of the component's area.
    """

    hks_count: int = 16
    grad_count: int = 4
    eigs: int = 128
    t_range: tuple[float, float] = HKS_TIMES


@dataclass
class _Context:
    """One mesh's arrays, with the spectra of its components computed once for all features."""

    pos: np.ndarray
    faces: np.ndarray
    frame: np.ndarray
    options: FeatureOptions
    structure_group: str = "SO2"
    _spectra: list[tuple[np.ndarray, np.ndarray] | None] | None = field(default=None, repr=False)

    @property
    def spectra(self) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """:func:`~gaugemesh.geometry.components.component_spectra` of the mesh."""
        if self._spectra is None:
            self._spectra = component_spectra(self.pos, self.faces, self.options.eigs)
        return self._spectra


@dataclass(frozen=True)
class Feature:
    """A named input feature: its irrep order, its multiplicity and how to compute it.

    ``o2_blocks`` states its O(2) type in the same layout: ``(count, irrep)`` pairs whose
    counts sum to the multiplicity, irreps written as in :class:`~gaugemesh.o2.O2FieldType`
    (``"0"``, ``"0-"``, ``"1"``).
    """

    name: str
    order: int
    multiplicity: Callable[[FeatureOptions], int]
    compute: Callable[[_Context], np.ndarray]
    doc: str
    o2_blocks: Callable[[FeatureOptions], list[tuple[int, str]]]

    def dim(self, options: FeatureOptions) -> int:
        return self.multiplicity(options) * (1 if self.order == 0 else 2)


def _xyz(ctx: _Context) -> np.ndarray:
    # Over the whole mesh, unlike the intrinsic features: where the pieces lie relative to each
    # other is what positions describe, and a tiny piece weighs in the centre and the area
    # only by its tiny area.
    mass = lumped_mass(ctx.pos, ctx.faces)
    center = mass @ ctx.pos / mass.sum()
    return (ctx.pos - center) / np.sqrt(mass.sum())


def _hks(ctx: _Context) -> np.ndarray:
    o = ctx.options
    return hks(ctx.pos, ctx.faces, o.hks_count, o.eigs, o.t_range, spectra=ctx.spectra)


def _hks_grad(ctx: _Context) -> np.ndarray:
    o = ctx.options
    grad = hks_gradient(ctx.pos, ctx.faces, ctx.frame, o.grad_count, o.eigs, o.t_range, spectra=ctx.spectra)
    return grad.reshape(len(ctx.pos), -1)  # copies one after the other, each a (cos, sin) pair


def _curvature(ctx: _Context) -> np.ndarray:
    # O(2): the faces' windings need not agree (a Moebius strip), so the mean curvature is
    # signed by each vertex's frame normal, its local orientation: a pseudo-scalar.
    normals = ctx.frame[:, 2] if ctx.structure_group == "O2" else None
    return curvature_features(ctx.pos, ctx.faces, normals)


def _diffused_curvature(ctx: _Context) -> np.ndarray:
    o = ctx.options
    normals = ctx.frame[:, 2] if ctx.structure_group == "O2" else None  # as in _curvature
    return diffused_curvature_features(ctx.pos, ctx.faces, o.t_range[0], o.eigs, normals, spectra=ctx.spectra)


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("xyz", 0, lambda o: 3, _xyz,
                "positions, centred and scaled by 1/sqrt(total area); not rotation invariant",
                lambda o: [(3, "0")]),
        Feature("hks", 0, lambda o: o.hks_count, _hks,
                "heat kernel signature at hks_count log-spaced times, heat-trace normalised",
                lambda o: [(o.hks_count, "0")]),
        Feature("curvature", 0, lambda o: 2, _curvature,
                "arcsinh of scale-free mean and Gaussian curvature",
                lambda o: [(1, "0-"), (1, "0")]),  # mean (signed by the normal), Gaussian (intrinsic)
        Feature("diffused_curvature", 0, lambda o: 2, _diffused_curvature,
                "curvature diffused by heat for the smallest HKS time: stable across meshings",
                lambda o: [(1, "0-"), (1, "0")]),
        Feature("hks_grad", 1, lambda o: o.grad_count, _hks_grad,
                "gradient of the HKS at grad_count times, a tangent vector in the vertex frame",
                lambda o: [(o.grad_count, "1")]),
    )
}


def feature_names(names: str | Sequence[str]) -> tuple[str, ...]:
    """Normalise ``"hks,curvature"``, ``"hks curvature"`` or a list to a tuple of names."""
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    return tuple(names)


def resolve_features(names: str | Sequence[str]) -> list[Feature]:
    """The features ``names``, checked (known, listed once), scalars first (ValueError otherwise)."""
    names = feature_names(names)
    if not names:
        raise ValueError(f"no input features asked for; choose from {sorted(FEATURES)}.")
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown input feature(s) {unknown}; choose from {sorted(FEATURES)}.")
    if len(set(names)) != len(names):
        raise ValueError(f"input feature listed twice in {list(names)}.")
    chosen = [FEATURES[n] for n in names]
    return sorted(chosen, key=lambda f: f.order)  # stable: keeps the asked order within an order


def _check_group(structure_group: str) -> None:
    if structure_group not in STRUCTURE_GROUPS:
        raise ValueError(f"structure_group must be one of {STRUCTURE_GROUPS}, got {structure_group!r}.")


def feature_type_string(names: Sequence[str], options: FeatureOptions = FeatureOptions(),
                        structure_group: str = "SO2") -> str:
    """The field type of the features ``names`` as a string: ``"18x0 + 4x1"`` (SO(2)), or the
    O(2) type of the same layout, ``"16x0 + 1x0- + 1x0 + 4x1"`` (``structure_group="O2"``)."""
    _check_group(structure_group)
    if structure_group == "O2":
        blocks: list[list] = []
        for f in resolve_features(names):
            for count, irrep in f.o2_blocks(options):
                if blocks and blocks[-1][1] == irrep:  # neighbours of one irrep read as one block
                    blocks[-1][0] += count
                else:
                    blocks.append([count, irrep])
        return " + ".join(f"{m}x{irrep}" for m, irrep in blocks)
    counts: dict[int, int] = {}
    for f in resolve_features(names):
        counts[f.order] = counts.get(f.order, 0) + f.multiplicity(options)
    return " + ".join(f"{m}x{n}" for n, m in counts.items())


def feature_type(names: Sequence[str], options: FeatureOptions = FeatureOptions()):
    """The :class:`~gaugemesh.FieldType` of the features ``names`` (in the layout of ``x``)."""
    from gaugemesh.so2 import FieldType

    return FieldType(feature_type_string(names, options))


def compute_features(
    pos: np.ndarray,
    faces: np.ndarray,
    frame: np.ndarray,
    names: Sequence[str] = DEFAULT_FEATURES,
    options: FeatureOptions = FeatureOptions(),
    structure_group: str = "SO2",
) -> tuple[np.ndarray, str]:
    """Compute features ``names`` in float64 numpy; returns ``(x, type_string)``.

    ``frame`` are the frames the vector features are expressed in; with
    ``structure_group="O2"`` they are an O(2) frame field's (their normals the local
    orientations, which also sign the mean curvature) and the type string is an O(2) type.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; frame: ``[V, 3, 3]`` (rows e1, e2, n);
        x: ``[V, dim]``.
    """
    _check_group(structure_group)
    ctx = _Context(np.asarray(pos, np.float64), np.asarray(faces, np.int64), np.asarray(frame, np.float64), options,
                   structure_group)
    blocks = [f.compute(ctx) for f in resolve_features(names)]
    return np.concatenate(blocks, axis=1), feature_type_string(names, options, structure_group)
