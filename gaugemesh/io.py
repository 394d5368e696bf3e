"""Reading mesh files: OFF, PLY and STL through trimesh, OBJ by :mod:`gaugemesh.obj_file`,
then :func:`validate_mesh`.

The file's vertex order is kept, because datasets store labels per file vertex. Two things
trimesh would otherwise get in the way of are undone here: OBJ files are read in file order
by :func:`~gaugemesh.obj_file.parse_obj` (trimesh splits vertices per corner normal or
texture coordinate, and splits and reorders a file with several materials), and STL triangle
soups are welded (vertices at identical positions become one, in order of first appearance).

Formats whose header states how many elements follow (OFF, PLY, binary STL) are checked
against what the file actually holds: trimesh reads a truncated OFF or ASCII PLY file without
complaint (and falls back to reading a truncated binary STL as an empty ASCII one), so a file
cut short would otherwise load as a smaller mesh.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaugemesh.geometry.topology import unique_rows_in_order
from gaugemesh.mesh import Mesh, MeshError, validate_mesh
from gaugemesh.obj_file import parse_obj

__all__ = ["load_mesh", "load_mesh_with_arrays", "read_mesh_arrays", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".obj", ".off", ".ply", ".stl")

# OFF keywords trimesh reads (OFF, COFF, NOFF, STOFF, ...). "nOFF" (a dimension line before
# the counts) and "OFF BINARY" are left to trimesh, which refuses them.
_OFF_KEYWORD = re.compile(rb"[A-Z4]*OFF")
# PLY scalar types as struct format characters (sizes are struct's standard sizes).
_PLY_TYPES = {
    "char": "b", "int8": "b", "uchar": "B", "uint8": "B", "short": "h", "int16": "h",
    "ushort": "H", "uint16": "H", "int": "i", "int32": "i", "uint": "I", "uint32": "I",
    "float": "f", "float32": "f", "double": "d", "float64": "d",
}
_STL_HEADER_BYTES, _STL_TRIANGLE_BYTES = 84, 50
_PLURALS = {"vertex": "vertices", "face": "faces"}


def _weld(pos: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices with identical coordinates, keeping first appearances in order."""
    unique, index = unique_rows_in_order(pos)
    return unique, index[faces]


# -- header counts ---------------------------------------------------------------------------


def _describe(counts: dict[str, int]) -> str:
    """``{"vertex": 3, "face": 1}`` as ``"3 vertices and 1 faces"``."""
    return " and ".join(f"{n} {_PLURALS.get(name, repr(name) + ' elements')}" for name, n in counts.items())


def _mismatch(path: Path, kind: str, promised: str, found: str) -> MeshError:
    return MeshError(f"{path.name}: truncated or corrupt {kind} file: its header promises {promised}, "
                     f"but the file holds {found}. Re-export or re-download the file.")


def _check_counts(path: Path, kind: str, promised: dict[str, int], found: dict[str, int]) -> None:
    if promised != found:
        raise _mismatch(path, kind, _describe(promised), _describe(found))


def _record_end(tokens: list[bytes], start: int = 0) -> int | None:
    """End of a ``COUNT i_1 .. i_COUNT`` record starting at ``tokens[start]``, or None if cut."""
    if start >= len(tokens) or not tokens[start].isdigit():
        return None
    end = start + 1 + int(tokens[start])
    return end if end <= len(tokens) else None


def _check_off(path: Path, data: bytes) -> None:
    """Compare an OFF header's vertex and face counts with the complete records that follow.

    Records are counted line by line, as trimesh reads them: a vertex needs three
    coordinates, a face its count and that many indices. Lines past the promised faces count
    as faces too, so a header that undercounts is caught as well as a file cut short.
    """
    # Lines stay bytes and are split one at a time: holding a token list per line costs
    # several times trimesh's own parse on a large file.
    lines = data.splitlines()
    if b"#" in data:
        lines = [line.split(b"#", 1)[0] for line in lines]
    lines = [line for line in lines if line and not line.isspace()]
    keyword_line = lines[0].split() if lines else []
    if not keyword_line or not _OFF_KEYWORD.fullmatch(keyword_line[0]):
        return  # not an OFF header: trimesh says so
    counts_on_keyword_line = len(keyword_line) > 1
    header = keyword_line[1:] if counts_on_keyword_line else (lines[1].split() if len(lines) > 1 else [])
    body = lines[1:] if counts_on_keyword_line else lines[2:]
    try:
        num_vertices, num_faces = int(header[0]), int(header[1])
    except (IndexError, ValueError):
        return  # no count line: trimesh says so
    vertex_lines = body[: max(num_vertices, 0)]
    found_vertices = sum(len(line.split()) >= 3 for line in vertex_lines)
    found_faces = sum(_record_end(line.split()) is not None for line in body[len(vertex_lines) :])
    _check_counts(path, "OFF", {"vertex": num_vertices, "face": num_faces},
                  {"vertex": found_vertices, "face": found_faces})


@dataclass
class _PlyElement:
    """One ``element`` of a PLY header: its properties as ``(type, list length type or None)``."""

    name: str
    count: int
    properties: list[tuple[str, str | None]] = field(default_factory=list)


def _ply_header(data: bytes) -> tuple[str, list[_PlyElement], int] | None:
    """``(format, elements, offset of the body)``, or None when the header is not readable
    (trimesh then reports the problem)."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        return None
    newline = data.find(b"\n", end)
    body_start = len(data) if newline < 0 else newline + 1
    fmt, elements = "", []
    try:
        for line in data[:end].decode("ascii", "replace").splitlines():
            tokens = line.split()
            if tokens[:1] == ["format"]:
                fmt = tokens[1]
            elif tokens[:1] == ["element"]:
                elements.append(_PlyElement(tokens[1], int(tokens[2])))
            elif tokens[:1] == ["property"]:
                is_list = tokens[1] == "list"
                item = _PLY_TYPES[tokens[3] if is_list else tokens[1]]
                elements[-1].properties.append((item, _PLY_TYPES[tokens[2]] if is_list else None))
    except (IndexError, KeyError, ValueError):
        return None
    return fmt, elements, body_start


def _ply_ascii_row_complete(tokens: list[bytes], properties: list[tuple[str, str | None]]) -> bool:
    """Whether an ASCII row has a token for every scalar and every list entry."""
    at = 0
    for _, length in properties:
        if length is None:
            at += 1
        else:
            end = _record_end(tokens, at)
            if end is None:
                return False
            at = end
    return at <= len(tokens)


def _ply_ascii_found(body: bytes, elements: list[_PlyElement]) -> list[int]:
    """Complete rows of every element; rows past the last element count towards it."""
    rows = [line for line in body.splitlines() if line and not line.isspace()]  # split one at a time, as for OFF
    found, at = [], 0
    for k, element in enumerate(elements):
        chunk = rows[at:] if k == len(elements) - 1 else rows[at : at + max(element.count, 0)]
        at += len(chunk)
        found.append(sum(_ply_ascii_row_complete(line.split(), element.properties) for line in chunk))
    return found


def _ply_binary_row_end(body: bytes, at: int, properties: list[tuple[str, str | None]], endian: str) -> int | None:
    """End of the binary row starting at byte ``at``, or None if the body ends first."""
    for item, length in properties:
        if length is None:
            at += struct.calcsize(endian + item)
            continue
        if at + struct.calcsize(endian + length) > len(body):
            return None
        (n,) = struct.unpack_from(endian + length, body, at)
        if n < 0:  # a garbage count: no row ends here
            return None
        at += struct.calcsize(endian + length) + n * struct.calcsize(endian + item)
    return at if at <= len(body) else None


def _ply_binary_found(body: bytes, elements: list[_PlyElement], endian: str) -> list[int]:
    """Complete rows of every element, walking the rows (lists may differ in length)."""
    found, at = [], 0
    for element in elements:
        n = 0
        while n < element.count:
            end = _ply_binary_row_end(body, at, element.properties, endian)
            if end is None:
                break
            at, n = end, n + 1
        found.append(n)
    return found


def _check_ply(path: Path, data: bytes, *, binary: bool) -> None:
    """Compare a PLY header's element counts with the complete rows that follow.

    ASCII files are always checked (trimesh reads a short one silently). Binary files are
    walked only with ``binary`` set, after trimesh refused one, to say what is missing: the
    walk is a Python loop over rows, too slow to pay on every good file.
    """
    header = _ply_header(data)
    if header is None:
        return
    fmt, elements, body_start = header
    body = data[body_start:]
    if fmt == "ascii":
        found = _ply_ascii_found(body, elements)
    elif binary and fmt in ("binary_little_endian", "binary_big_endian"):
        found = _ply_binary_found(body, elements, "<" if fmt == "binary_little_endian" else ">")
    else:
        return
    _check_counts(path, "PLY", {e.name: e.count for e in elements}, dict(zip((e.name for e in elements), found)))


def _check_stl(path: Path, data: bytes) -> None:
    """Compare a binary STL's triangle count with its length.

    ASCII STL has no count. A binary file is told apart by its NUL bytes (the two attribute
    bytes of a triangle are almost always zero; ASCII STL has none), not by a leading
    ``solid``, which many binary headers start with too.
    """
    if len(data) < _STL_HEADER_BYTES or (data.lstrip()[:5].lower() == b"solid" and b"\x00" not in data):
        return
    promised = int.from_bytes(data[80:84], "little")
    expected = _STL_HEADER_BYTES + _STL_TRIANGLE_BYTES * promised
    if len(data) != expected:
        complete = (len(data) - _STL_HEADER_BYTES) // _STL_TRIANGLE_BYTES
        raise _mismatch(path, "binary STL", f"{promised} triangles ({expected} bytes)",
                        f"{len(data)} bytes ({complete} complete triangles)")


# -- reading ---------------------------------------------------------------------------------


def read_mesh_arrays(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read raw ``(pos, faces)`` from a mesh file, without validation.

    Polygon faces come back triangulated (by trimesh, as fans). STL files come back welded.

    Raises:
        FileNotFoundError: no such file.
        MeshError: unsupported suffix, the file cannot be parsed as a mesh, or it holds a
            different number of vertices or faces than its header promises (a truncated file).
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no mesh file at {path}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(f"{path.name}: unsupported format {suffix!r}; use one of {SUPPORTED_SUFFIXES}.")
    data = path.read_bytes()
    if suffix == ".obj":
        obj = parse_obj(path, data)
        return obj.pos, obj.faces
    if suffix == ".off":
        _check_off(path, data)
    elif suffix == ".ply":
        _check_ply(path, data, binary=False)
    elif suffix == ".stl":
        _check_stl(path, data)
    try:
        loaded = trimesh.load(path, process=False, force="mesh", maintain_order=True)
        pos = np.asarray(loaded.vertices, dtype=np.float64)
        faces = np.asarray(loaded.faces, dtype=np.int64).reshape(-1, 3)
    except Exception as exc:  # trimesh raises many types; users get one.
        if suffix == ".ply":  # trimesh refuses a short binary PLY; say what is missing
            _check_ply(path, data, binary=True)
        raise MeshError(f"{path.name}: could not be read as a mesh ({type(exc).__name__}: {exc}).") from exc
    if suffix == ".stl" and len(faces):
        pos, faces = _weld(pos, faces)
    return pos, faces


def load_mesh(path: str | os.PathLike, *, repair: bool = False, structure_group: str = "SO2") -> Mesh:
    """Load a triangle mesh file as a validated :class:`~gaugemesh.Mesh`.

    Args:
        path: An ``.obj``, ``.off``, ``.ply`` or ``.stl`` file.
        repair: Fix what can be fixed safely (see :func:`~gaugemesh.validate_mesh`); the
            result's ``vertex_map`` gives each vertex's index in the file.
        structure_group: ``"SO2"`` (default) refuses a non-orientable surface; ``"O2"`` accepts
            it, for :func:`~gaugemesh.mesh_to_data` with ``structure_group="O2"``.

    Raises:
        FileNotFoundError: no such file.
        MeshError: the file is unreadable or the mesh is invalid; the message says why.
    """
    return load_mesh_with_arrays(path, repair=repair, structure_group=structure_group)[0]


def load_mesh_with_arrays(
    path: str | os.PathLike, *, repair: bool = False, structure_group: str = "SO2"
) -> tuple[Mesh, np.ndarray, np.ndarray]:
    """:func:`load_mesh`, and the file's raw ``(pos, faces)`` as :func:`read_mesh_arrays` reads them.

    Labels refer to the file's vertices, faces and edges, so dataset readers need both: the
    mesh's ``vertex_map`` and ``face_map`` index into these arrays.

    Shapes:
        pos: ``[V_file, 3]``; faces: ``[F_file, 3]``.

    Raises:
        FileNotFoundError: no such file.
        MeshError: the file is unreadable or the mesh is invalid; the message names the file.
    """
    pos, faces = read_mesh_arrays(path)
    try:
        mesh = validate_mesh(pos, faces, repair=repair, structure_group=structure_group)
    except MeshError as exc:
        raise MeshError(f"{Path(path).name}: {exc}") from None
    return mesh, pos, faces
