"""What O(2) features are for on an ordinary mesh: equivariance to mirroring.

A mirrored mesh is the same surface with the other orientation, so its O(2) frame field is the
original's after a reflection of every frame (docs/conventions.md): trivial (0) outputs of an
O(2) network are identical on a mesh and its mirror image, pseudo-scalar (0-) outputs change
sign, and an SO(2) network's outputs do neither. See docs/o2.md.
"""

import numpy as np
import torch
from torch import nn

import gaugemesh
from gaugemesh.datasets.synthetic import CLASSES, synthetic_mesh
from gaugemesh.nn import GemConv, InvariantReadout, NormNonlinearity
from gaugemesh.nn.o2_conv import O2ConvOperators, O2GemConv
from gaugemesh.nn.o2_layers import O2InvariantReadout, O2NormNonlinearity
from gaugemesh.testing import randomize_parameters
from tests.conftest import icosphere

S, Z = CLASSES.index("s_ridge"), CLASSES.index("z_ridge")


class O2Net(nn.Module):
    """Two O(2) convolutions; per vertex, invariant logits and one pseudo-scalar score."""

    def __init__(self, classes: int = 4):
        super().__init__()
        self.conv1 = O2GemConv("1x0", "4x0 + 2x0- + 2x1 + 1x2")
        self.act = O2NormNonlinearity(self.conv1.out_type)
        self.conv2 = O2GemConv(self.conv1.out_type, "4x0 + 1x0- + 2x1")
        self.readout = O2InvariantReadout(self.conv2.out_type)
        self.logits = nn.Linear(self.readout.out_type.dim, classes)

    def forward(self, data):
        geometry = O2ConvOperators.from_data(data)
        h = self.conv2(self.act(self.conv1(data.x, operators=geometry)), operators=geometry)
        pseudo = h[:, 4:5]  # the 0- field: a chirality score, read against the frames' orientation
        return self.logits(self.readout(h)), pseudo


class SO2Net(nn.Module):
    """The same shape with SO(2) types: its invariants see the orientation."""

    def __init__(self, classes: int = 4):
        super().__init__()
        self.conv1 = GemConv("1x0", "6x0 + 2x1 + 1x2")
        self.act = NormNonlinearity(self.conv1.out_type)
        self.conv2 = GemConv(self.conv1.out_type, "5x0 + 2x1")
        self.readout = InvariantReadout(self.conv2.out_type)
        self.logits = nn.Linear(self.readout.out_type.dim, classes)

    def forward(self, data):
        args = (data.edge_index, data.theta, data.transport, data.edge_weight)
        return self.logits(self.readout(self.conv2(self.act(self.conv1(data.x, *args)), *args)))


def _data(pos, faces, structure_group):
    mesh = gaugemesh.validate_mesh(pos, faces, structure_group=structure_group)
    data = gaugemesh.mesh_to_data(mesh, dtype=torch.float64, structure_group=structure_group)
    data.x = (data.area / data.area.mean())[:, None]  # an intrinsic scalar: the same on the mirror image
    return data


def _chiral_sphere(seed=0):
    pos, faces = icosphere(2)
    rng = np.random.default_rng(seed)
    return pos * (1 + 0.15 * rng.random((len(pos), 1))) + 0.05 * rng.standard_normal(pos.shape), faces


MIRROR = np.array([-1.0, 1.0, 1.0])


@torch.no_grad()
def test_o2_logits_on_a_mirrored_mesh_equal_the_originals():
    pos, faces = _chiral_sphere()
    model = randomize_parameters(O2Net(), generator=torch.Generator().manual_seed(0)).double().eval()
    logits, pseudo = model(_data(pos, faces, "O2"))
    mirror_logits, mirror_pseudo = model(_data(pos * MIRROR, faces, "O2"))
    scale = logits.abs().max()
    assert logits.std(0).min() > 1e-3 * scale  # the logits vary over the mesh: nothing trivial
    torch.testing.assert_close(mirror_logits, logits, atol=1e-10 * float(scale), rtol=0)
    torch.testing.assert_close(mirror_pseudo, -pseudo, atol=1e-10 * float(pseudo.abs().max()), rtol=0)
    assert pseudo.abs().max() > 1e-3 * scale
    # the SO(2) network tells a mesh from its mirror image
    so2 = randomize_parameters(SO2Net(), generator=torch.Generator().manual_seed(0)).double().eval()
    a, b = so2(_data(pos, faces, "SO2")), so2(_data(pos * MIRROR, faces, "SO2"))
    assert (a - b).abs().max() > 1e-2 * a.abs().max()


@torch.no_grad()
def test_s_and_z_ridges_look_the_same_to_invariant_outputs():
    """Mirroring turns every S ridge into a Z ridge at the same vertices. The invariant logits
    of those vertices do not change, so whatever the weights, an O(2) network calls the S ridge
    of a mesh and the Z ridge of its mirror image the same; only the pseudo-scalar changes."""
    pos, faces, labels = synthetic_mesh(np.random.default_rng(3))
    ridge = (labels == S) | (labels == Z)
    assert (labels == S).any() and (labels == Z).any()
    model = randomize_parameters(O2Net(), generator=torch.Generator().manual_seed(1)).double().eval()
    logits, pseudo = model(_data(pos, faces, "O2"))
    mirror_logits, mirror_pseudo = model(_data(pos * MIRROR, faces, "O2"))
    torch.testing.assert_close(mirror_logits, logits, atol=1e-9 * float(logits.abs().max()), rtol=0)
    mirror_labels = np.where(labels == S, Z, np.where(labels == Z, S, labels))
    predicted = logits.argmax(1).numpy()
    right = (predicted == labels)[ridge].sum() + (mirror_logits.argmax(1).numpy() == mirror_labels)[ridge].sum()
    assert right <= ridge.sum()  # on every ridge vertex, right on at most one of the two meshes
    torch.testing.assert_close(mirror_pseudo, -pseudo, atol=1e-9 * float(pseudo.abs().max()), rtol=0)
