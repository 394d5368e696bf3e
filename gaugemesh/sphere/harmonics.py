"""Real spherical harmonics, band-limited signals on the sphere, and their exact rotation.

A signal of bandwidth ``L`` is ``f(x) = sum_{l <= L, |m| <= l} c_lm Y_lm(x)`` with the real,
orthonormal harmonics of :func:`real_spherical_harmonics`. It is known everywhere, so the
rotated signal ``(R f)(x) = f(R^T x)`` is evaluated exactly at any point: no resampling.
Pure float64 numpy.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "fit_spherical_harmonics",
    "num_harmonics",
    "random_rotations",
    "random_sh_coefficients",
    "real_spherical_harmonics",
    "sh_index",
    "sh_signal",
]


def num_harmonics(l_max: int) -> int:
    """``(l_max + 1)**2``, the number of real harmonics of degree ``0..l_max``."""
    return (l_max + 1) ** 2


def sh_index(l: int, m: int) -> int:  # noqa: E741 (the degree is called l everywhere)
    """Column of ``Y_lm`` in :func:`real_spherical_harmonics`: ``l**2 + l + m``."""
    if not -l <= m <= l:
        raise ValueError(f"order m must satisfy -l <= m <= l, got l={l}, m={m}.")
    return l * l + l + m


def real_spherical_harmonics(points: np.ndarray, l_max: int) -> np.ndarray:
    r"""The real orthonormal spherical harmonics ``Y_lm``, ``l = 0..l_max``, at ``points``.

    ``Y_l0 = N_l0 P_l(z)``, ``Y_lm = sqrt(2) N_lm P_l^m(z) cos(m phi)`` and
    ``Y_l,-m = sqrt(2) N_lm P_l^m(z) sin(m phi)`` for ``m > 0``, with
    ``N_lm = sqrt((2l + 1) / (4 pi) (l - m)! / (l + m)!)`` and ``P_l^m`` without the
    Condon-Shortley phase: ``int Y_lm Y_l'm' = delta`` over the unit sphere. Computed as
    polynomials in ``(x, y, z)``: ``P_l^m(z) / sin^m`` by the normalised three-term
    recurrence in ``l`` and ``sin^m e^{i m phi} = (x + i y)^m``, so the poles need no care
    and nothing overflows for large ``l``. Points are normalised to the unit sphere first.

    Args:
        points: Points in space (not the origin).
        l_max: Highest degree.

    Shapes:
        points: ``[N, 3]``; returns ``[N, (l_max + 1)**2]``, column ``l**2 + l + m``
        (:func:`sh_index`).

    Raises:
        ValueError: ``points`` is not ``[N, 3]`` or holds the origin or non-finite values,
            or ``l_max`` is negative.
    """
    unit = _unit(points, "real_spherical_harmonics")
    if l_max < 0:
        raise ValueError(f"l_max must be >= 0, got {l_max}.")
    x, y, z = unit.T
    out = np.empty((len(unit), num_harmonics(l_max)))
    power = np.ones(len(unit), dtype=np.complex128)  # (x + i y)^m
    q_mm = np.full(len(unit), math.sqrt(1.0 / (4.0 * math.pi)))  # N_mm P_m^m / sin^m
    for m in range(l_max + 1):
        if m > 0:
            q_mm = q_mm * math.sqrt((2 * m + 1) / (2 * m))
            power = power * (x + 1j * y)
        angular = (power.real, power.imag) if m > 0 else None
        q_prev, q = np.zeros_like(q_mm), q_mm
        for l in range(m, l_max + 1):  # noqa: E741
            if l == m + 1:
                q_prev, q = q, math.sqrt(2 * m + 3) * z * q
            elif l > m + 1:
                a = math.sqrt((4 * l * l - 1) / (l * l - m * m))
                b = math.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
                q_prev, q = q, a * (z * q - b * q_prev)
            if angular is None:
                out[:, sh_index(l, 0)] = q
            else:
                out[:, sh_index(l, m)] = math.sqrt(2.0) * q * angular[0]
                out[:, sh_index(l, -m)] = math.sqrt(2.0) * q * angular[1]
    return out


def random_sh_coefficients(l_max: int, channels: int | None = None, seed: int = 0, l_min: int = 0) -> np.ndarray:
    """Random coefficients of a signal of unit L2 norm on the sphere, degrees
    ``l_min..l_max`` carrying equal expected power (Gaussian, each degree scaled by
    ``1 / sqrt(2l + 1)``), then normalised exactly.

    Shapes:
        returns ``[(l_max + 1)**2]``, or ``[(l_max + 1)**2, channels]`` when ``channels`` is given.

    Raises:
        ValueError: ``0 <= l_min <= l_max`` does not hold.
    """
    if not 0 <= l_min <= l_max:
        raise ValueError(f"need 0 <= l_min <= l_max, got l_min={l_min}, l_max={l_max}.")
    rng = np.random.default_rng(seed)
    degree = np.floor(np.sqrt(np.arange(num_harmonics(l_max)))).astype(int)
    coefficients = rng.standard_normal((num_harmonics(l_max), channels or 1))
    coefficients *= np.where(degree >= l_min, 1.0 / np.sqrt(2 * degree + 1), 0.0)[:, None]
    coefficients /= np.linalg.norm(coefficients, axis=0, keepdims=True)
    return coefficients if channels is not None else coefficients[:, 0]


def sh_signal(coefficients: np.ndarray, points: np.ndarray, rotation: np.ndarray | None = None) -> np.ndarray:
    """The band-limited signal, rotated by ``rotation``, at ``points``: ``f(R^T x)``.

    The degree is read from the number of coefficients.

    Shapes:
        coefficients: ``[(L + 1)**2]`` or ``[(L + 1)**2, C]``; points: ``[N, 3]``;
        rotation: ``[3, 3]``; returns ``[N]`` or ``[N, C]``.

    Raises:
        ValueError: the number of coefficients is not a square, or ``rotation`` is not a
            rotation matrix.
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    l_max = math.isqrt(coefficients.shape[0]) - 1
    if num_harmonics(l_max) != coefficients.shape[0]:
        raise ValueError(f"coefficients must have (L + 1)**2 rows, got {coefficients.shape[0]}.")
    points = np.asarray(points, dtype=np.float64)
    if rotation is not None:
        points = points @ _rotation(rotation)  # row x^T R = (R^T x)^T
    return real_spherical_harmonics(points, l_max) @ coefficients


def fit_spherical_harmonics(values: np.ndarray, points: np.ndarray, l_max: int,
                            weights: np.ndarray | None = None) -> np.ndarray:
    """Least-squares coefficients of degree ``<= l_max`` of ``values`` sampled at ``points``
    (weighted by ``weights``, e.g. a lumped mass). Exact for a band-limited signal of degree
    ``<= l_max`` sampled at enough points in general position.

    Shapes:
        values: ``[N]`` or ``[N, C]``; points: ``[N, 3]``; weights: ``[N]``;
        returns ``[(l_max + 1)**2]`` or ``[(l_max + 1)**2, C]``.

    Raises:
        ValueError: fewer points than harmonics (the fit would be underdetermined).
    """
    basis = real_spherical_harmonics(points, l_max)
    if basis.shape[0] < basis.shape[1]:
        raise ValueError(f"fitting degree {l_max} needs at least {basis.shape[1]} points, got {basis.shape[0]}.")
    root = np.ones(len(basis)) if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    values = np.asarray(values, dtype=np.float64)
    scaled = values * (root if values.ndim == 1 else root[:, None])
    return np.linalg.lstsq(basis * root[:, None], scaled, rcond=None)[0]


def random_rotations(count: int, seed: int = 0) -> np.ndarray:
    """``count`` rotations drawn uniformly (Haar measure) from SO(3): unit quaternions from
    normalised 4D Gaussians.

    Shapes:
        returns ``[count, 3, 3]``, each orthogonal with determinant ``+1``.
    """
    q = np.random.default_rng(seed).standard_normal((count, 4))
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], 1)


def _unit(points: np.ndarray, caller: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{caller}: points must be [N, 3], got shape {list(points.shape)}.")
    radius = np.linalg.norm(points, axis=1, keepdims=True)
    if not np.isfinite(points).all() or (radius == 0).any():
        raise ValueError(f"{caller}: points must be finite and not the origin (they are projected to the sphere).")
    return points / radius


def _rotation(rotation: np.ndarray) -> np.ndarray:
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9) \
            or np.linalg.det(rotation) < 0:
        raise ValueError("rotation must be a 3x3 rotation matrix (orthogonal, determinant +1).")
    return rotation
