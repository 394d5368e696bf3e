"""The synthetic dataset: deterministic, valid meshes, the classes it promises."""

import numpy as np
import pytest

from gaugemesh import load_mesh
from gaugemesh.datasets import GenericLayout, open_layout
from gaugemesh.datasets import synthetic
from gaugemesh.datasets.synthetic import CLASSES, make_synthetic


def _files(root):
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_same_seed_same_bytes_other_seed_other_meshes(tmp_path):
    make_synthetic(tmp_path / "a", num=3, seed=5)
    make_synthetic(tmp_path / "b", num=3, seed=5)
    make_synthetic(tmp_path / "c", num=3, seed=6)
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert a == b
    assert a["synth_0000.off"] != c["synth_0000.off"]
    # Mesh i depends on (seed, i) only: asking for more meshes keeps the first ones.
    make_synthetic(tmp_path / "d", num=4, seed=5)
    assert _files(tmp_path / "d")["synth_0002.off"] == a["synth_0002.off"]


def test_meshes_are_valid_without_repair_and_labelled(tmp_path):
    names = make_synthetic(tmp_path, num=6, seed=0)
    seen = set()
    total = np.zeros(len(CLASSES))
    for name in names:
        mesh = load_mesh(tmp_path / f"{name}.off", repair=False)
        labels = np.loadtxt(tmp_path / f"{name}.txt", dtype=int)
        assert 500 <= mesh.num_vertices <= 3000 and len(labels) == mesh.num_vertices
        assert np.array_equal(mesh.vertex_map, np.arange(mesh.num_vertices))
        counts = np.bincount(labels, minlength=len(CLASSES))
        assert 0.2 * len(labels) < counts[0] < 0.85 * len(labels) and (counts[1:] > 0).sum() >= 2
        seen |= set(np.unique(labels))
        total = total + counts
    assert seen == set(range(len(CLASSES)))
    # Predicting the base everywhere must not pass the demo's 90% bar, and the mirror-image
    # ridges (which only an orientation-sensitive network tells apart) must matter.
    share = total / total.sum()
    assert share[0] < 0.7 and share[2] + share[3] > 0.15, share


def test_layout_and_splits(tmp_path):
    make_synthetic(tmp_path, num=10, seed=1)
    layout = open_layout(tmp_path)
    assert isinstance(layout, GenericLayout) and layout.num_classes == 4
    assert len(layout.items("train")) == 8 and len(layout.items("test")) == 2
    with pytest.raises(ValueError, match="num"):
        make_synthetic(tmp_path, num=0)


def test_s_and_z_skeletons_are_mirror_images_and_chiral():
    s, z = synthetic._curve(2), synthetic._curve(3)
    np.testing.assert_allclose(z, s * [1, -1])
    # Chiral: no rotation of the S skeleton is the Z skeleton (an arc would fail this).
    for angle in np.linspace(0, 2 * np.pi, 360, endpoint=False):
        c, si = np.cos(angle), np.sin(angle)
        rotated = s @ np.array([[c, si], [-si, c]])
        gap = np.linalg.norm(rotated[:, None] - z[None], axis=2).min(axis=1).max()
        assert gap > 0.05


def test_bumps_and_ridges_cover_the_same_area():
    x, y = np.meshgrid(np.linspace(-1, 1, 301), np.linspace(-1, 1, 301))
    pos = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)
    normals = np.tile([0.0, 0.0, 1.0], (len(pos), 1))
    centre = len(pos) // 2
    rng = np.random.default_rng(0)
    areas = [(synthetic._profile(rng, pos, normals, centre, cls) > synthetic._THRESHOLD).sum() for cls in (1, 2, 3)]
    assert areas[1] == pytest.approx(areas[0], rel=0.1) and areas[2] == pytest.approx(areas[1], rel=0.02)
