"""O(2) gauge changes of a PyG ``Data``: frames turned and, where asked, reflected.

The torch counterpart of :func:`gaugemesh.geometry.o2_frame_field.o2_gauge_transform`, with
the conventions of ``docs/conventions.md``: ``h_i = (phi_i, s_i)`` turns the frame by ``phi_i``
and then flips ``e2`` (and ``n``) where ``s_i``; features become ``rho(h_i^-1) f_i``
(:meth:`O2FieldType.transform` with :func:`~gaugemesh.o2.o2_inverse`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data

from gaugemesh.graph import _wrap

__all__ = ["o2_gauge_transform", "random_o2_gauge"]


def random_o2_gauge(num_nodes: int, generator: torch.Generator | None = None, dtype=torch.float64,
                    device=None) -> tuple[Tensor, Tensor]:
    """A gauge change ``(phi [V], reflection [V])``: uniform angles, fair coins."""
    u = torch.rand(num_nodes, generator=generator, dtype=torch.float64)
    coin = torch.rand(num_nodes, generator=generator) < 0.5
    return ((1 - 2 * u) * math.pi).to(device=device, dtype=dtype), coin.to(device)


def o2_gauge_transform(data: Data, phi: Tensor, reflection: Tensor) -> Data:
    """The geometry of ``data`` in frames changed by ``(phi, reflection)`` at every vertex.

    ``theta' = (-1)^s_i (theta - phi_i)``, ``transport' = (-1)^s_i (transport - phi_i + (-1)^r phi_j)``,
    ``reflection' = r xor s_i xor s_j`` for edge ``j -> i`` (``r`` all false when ``data`` has no
    ``reflection``: an SO(2) field is an O(2) one without reflections). Reads ``edge_index``,
    ``theta``, ``transport``, ``reflection``, ``frame``; returns a shallow copy with them replaced.

    Shapes:
        phi, reflection: ``[V]``.
    """
    phi = torch.as_tensor(phi).to(device=data.theta.device, dtype=data.theta.dtype)
    s = torch.as_tensor(reflection, dtype=torch.bool, device=data.theta.device)
    if phi.shape != (data.num_nodes,) or s.shape != (data.num_nodes,):
        raise ValueError(f"o2_gauge_transform: phi and reflection must be [V] = [{data.num_nodes}], "
                         f"got {list(phi.shape)} and {list(s.shape)}.")
    j, i = data.edge_index
    r = getattr(data, "reflection", None)
    r = torch.zeros_like(data.theta, dtype=torch.bool) if r is None else r.to(torch.bool)
    sign = 1 - 2 * s.to(phi.dtype)
    out = data.clone()
    out.theta = _wrap(sign[i] * (data.theta - phi[i]))
    out.transport = _wrap(sign[i] * (data.transport - phi[i] + torch.where(r, -phi[j], phi[j])))
    out.reflection = r ^ s[i] ^ s[j]
    if getattr(data, "frame", None) is not None:
        c, sn = torch.cos(phi)[:, None], torch.sin(phi)[:, None]
        e1, e2, n = data.frame.unbind(1)
        flip = sign[:, None].to(data.frame.dtype)
        out.frame = torch.stack([c * e1 + sn * e2, flip * (-sn * e1 + c * e2), flip * n], dim=1)
    return out
