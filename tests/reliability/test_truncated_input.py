"""Issue 15, defect 7: a mesh file cut short must be refused, not read as a smaller mesh.

Every format whose header states how many elements follow is covered: OFF, ASCII and binary
PLY, binary STL. Each case checks that the complete file still loads, then that the cut one
raises a one-line MeshError naming the file, the promised count and the count found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaugemesh import MeshError, load_mesh
from gaugemesh.io import read_mesh_arrays
from tests.conftest import TEST_MESHES, icosphere, require

POS, FACES = icosphere(1)  # 42 vertices, 80 faces
V, F = len(POS), len(FACES)


def _body(pos: np.ndarray, faces: np.ndarray) -> str:
    """Vertex lines then triangle lines, as OFF and ASCII PLY both write them."""
    vertices = "".join(f"{x!r} {y!r} {z!r}\n" for x, y, z in pos.tolist())
    return vertices + "".join(f"3 {a} {b} {c}\n" for a, b, c in faces.tolist())


def _off_text(pos: np.ndarray, faces: np.ndarray, num_faces: int | None = None) -> str:
    """An OFF file; ``num_faces`` overrides the header's face count."""
    return f"OFF\n{len(pos)} {len(faces) if num_faces is None else num_faces} 0\n" + _body(pos, faces)


def _ply_ascii_text(pos: np.ndarray, faces: np.ndarray, num_faces: int | None = None) -> str:
    """An ASCII PLY file; ``num_faces`` overrides the header's face count."""
    header = (f"ply\nformat ascii 1.0\nelement vertex {len(pos)}\nproperty double x\nproperty double y\n"
              f"property double z\nelement face {len(faces) if num_faces is None else num_faces}\n"
              "property list uchar int vertex_indices\nend_header\n")
    return header + _body(pos, faces)


def _export(tmp_path: Path, name: str, **kwargs) -> Path:
    import trimesh

    path = tmp_path / name
    trimesh.Trimesh(POS, FACES, process=False).export(path, **kwargs)
    return path


def _cut(path: Path, keep: int) -> Path:
    """A copy of ``path`` holding only its first ``keep`` bytes."""
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(path.read_bytes()[:keep])
    return cut


def _assert_refused(path: Path, promised: str, found: str) -> None:
    for repair in (False, True):  # repair must not paper over a short file either
        with pytest.raises(MeshError) as info:
            load_mesh(path, repair=repair)
        message = str(info.value)
        assert "\n" not in message
        assert path.name in message and f"promises {promised}" in message and f"holds {found}" in message, message


def test_off_cut_in_the_faces_is_refused(tmp_path):
    path = tmp_path / "sphere.off"
    path.write_text(_off_text(POS, FACES))
    mesh = load_mesh(path)
    assert (mesh.num_vertices, mesh.num_faces) == (V, F)
    # The case: all vertices, half the faces (the rest would be dropped or unlabelled).
    cut = tmp_path / "half.off"
    cut.write_text(_off_text(POS, FACES[: F // 2], num_faces=F))
    _assert_refused(cut, f"{V} vertices and {F} faces", f"{V} vertices and {F // 2} faces")


def test_off_cut_inside_a_line_is_refused(tmp_path):
    path = tmp_path / "sphere.off"
    text = _off_text(POS, FACES)
    path.write_text(text)
    # Inside the last face ("3 a" of "3 a b c"): that face is incomplete, so not found.
    cut = _cut(path, len(text) - len(text.rstrip("\n").rsplit("\n", 1)[1]) - 1 + 3)
    _assert_refused(cut, f"{V} vertices and {F} faces", f"{V} vertices and {F - 1} faces")
    # Inside the first vertex line: no complete vertex at all.
    keyword, counts, first_vertex = text.split("\n")[:3]
    cut = _cut(path, len(keyword) + len(counts) + 2 + len(first_vertex) // 2)
    _assert_refused(cut, f"{V} vertices and {F} faces", "0 vertices and 0 faces")


def test_off_with_more_faces_than_its_header_is_refused(tmp_path):
    path = tmp_path / "undercount.off"
    path.write_text(_off_text(POS, FACES, num_faces=F - 2))
    _assert_refused(path, f"{V} vertices and {F - 2} faces", f"{V} vertices and {F} faces")


def test_ascii_ply_cut_short_is_refused(tmp_path):
    path = tmp_path / "sphere.ply"
    path.write_text(_ply_ascii_text(POS, FACES))
    assert load_mesh(path).num_faces == F
    cut = tmp_path / "short.ply"
    cut.write_text(_ply_ascii_text(POS, FACES[:30], num_faces=F))
    _assert_refused(cut, f"{V} vertices and {F} faces", f"{V} vertices and 30 faces")


def test_binary_ply_cut_short_is_refused(tmp_path):
    path = _export(tmp_path, "sphere.ply", encoding="binary")
    assert load_mesh(path).num_faces == F
    face_bytes = 1 + 3 * 4  # uchar count + three int32 indices, as trimesh writes them
    cut = _cut(path, path.stat().st_size - 10 * face_bytes - 5)
    _assert_refused(cut, f"{V} vertices and {F} faces", f"{V} vertices and {F - 11} faces")


def test_binary_stl_cut_short_is_refused(tmp_path):
    path = _export(tmp_path, "sphere.stl")
    assert load_mesh(path).num_faces == F
    cut = _cut(path, 84 + 50 * 20 + 7)
    with pytest.raises(MeshError) as info:
        read_mesh_arrays(cut)
    message = str(info.value)
    assert "\n" not in message and cut.name in message and f"promises {F} triangles" in message, message
    assert "20 complete triangles" in message, message


def test_ascii_stl_has_no_count_and_still_loads(tmp_path):
    path = _export(tmp_path, "sphere.stl", file_type="stl_ascii")
    assert load_mesh(path).num_faces == F


@pytest.mark.parametrize("name", ["geometry_central/sphere_small.ply", "libigl_tutorial_data/decimated-knight.off"])
def test_real_meshes_load_whole_and_are_refused_cut(name, tmp_path):
    path = require(TEST_MESHES / name)
    pos, faces = read_mesh_arrays(path)
    cut = tmp_path / path.name
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MeshError, match=f"{cut.name}: truncated or corrupt .* promises {len(pos)} vertices"):
        read_mesh_arrays(cut)
