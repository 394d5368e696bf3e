"""Non-orientable training data: every layout reads a Moebius strip for O(2) and refuses it for
SO(2); ``preprocess --structure-group O2`` fills the cache ``preprocess --config`` and ``train``
find, and training on it runs; SO(2) preprocessing refuses the strip in one line."""

from pathlib import Path

import numpy as np
import pytest

from gaugemesh.cli import main
from gaugemesh.datasets import ProcessOptions, process_item
from gaugemesh.datasets.layouts import open_layout
from gaugemesh.datasets.layouts.meshcnn import meshcnn_edges
from gaugemesh.mesh import MeshError
from tests.datasets.helpers import write_obj, write_off
from tests.o2_meshes import moebius_strip
from tests.reliability.training_helpers import CONFIG, one_line_error, tiny_data

O2_CONFIG = CONFIG.replace("eigs = 8\n", 'eigs = 8\nstructure_group = "O2"\n').replace(
    "[model]\n", '[model]\nkind = "o2gem"\n')
#: The command-line flags of CONFIG's features (the same cache key as ``--config``).
FLAGS = ["--features", "hks", "curvature", "hks_grad", "--hks-count", "2", "--grad-count", "1", "--eigs", "8",
         "--workers", "0", "--no-progress"]
NON_ORIENTABLE = "non-orientable"


def _strip_layout(root: Path, kind: str):
    """A dataset of ``kind`` holding one Moebius strip, labelled across its width."""
    pos, faces, _ = moebius_strip(16, 5)
    labels = (np.abs(pos[:, 2]) > 0.1).astype(int)
    if kind == "generic":
        root.mkdir(parents=True)
        write_off(root / "strip.off", pos, faces)
        (root / "strip.txt").write_text("\n".join(map(str, labels)) + "\n")
    elif kind == "vertex_labels":
        (root / "off").mkdir(parents=True)
        (root / "labels").mkdir()
        write_off(root / "off" / "strip.off", pos, faces)
        (root / "labels" / "strip.txt").write_text("\n".join(map(str, labels)) + "\n")
    else:
        for sub in ("train", "seg"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        write_obj(root / "train" / "strip.obj", pos, faces)
        edges, _ = meshcnn_edges(faces)
        (root / "seg" / "strip.eseg").write_text("\n".join(map(str, 1 + labels[edges].max(1))) + "\n")
    return open_layout(root, kind)


@pytest.mark.parametrize("kind", ["generic", "vertex_labels", "meshcnn"])
def test_every_layout_reads_a_moebius_strip_for_o2_only(tmp_path, kind):
    layout = _strip_layout(tmp_path / kind, kind)
    (item,) = layout.items("train")
    with pytest.raises(MeshError, match=NON_ORIENTABLE):
        layout.read(item)  # SO(2), the default, as before
    mesh, labels = layout.read(item, structure_group="O2")
    assert not mesh.orientable and mesh.num_vertices == 16 * 5 and len(labels["y"]) == mesh.num_vertices
    with pytest.raises(MeshError, match=NON_ORIENTABLE):
        process_item(layout, item, ProcessOptions(features=("curvature",)))
    sample = process_item(layout, item, ProcessOptions(features=("curvature",), structure_group="O2"))
    assert sample.num_nodes == 16 * 5 and sample.y.shape == (16 * 5,)


def _data_with_strip(root: Path) -> Path:
    """Two labelled spheres and a labelled Moebius strip, all in ``train``."""
    tiny_data(root)
    pos, faces, _ = moebius_strip(16, 5)
    write_off(root / "strip.off", pos, faces)
    (root / "strip.txt").write_text("\n".join(str(int(z > 0)) for z in pos[:, 2]) + "\n")
    (root / "train.txt").write_text("m0\nm1\nstrip\n")
    return root


def test_o2_preprocessing_and_training_take_a_moebius_strip(tmp_path, capsys):
    root = _data_with_strip(tmp_path / "data")
    cache = root / "processed"  # where train looks without data.cache
    assert main(["preprocess", str(root), "--out", str(cache), "--structure-group", "O2", "--split", "train",
                 *FLAGS]) == 0
    assert "3 meshes ready (3 computed, 0 cached), 0 skipped" in capsys.readouterr().out
    config = tmp_path / "config.toml"
    config.write_text(O2_CONFIG.format(root=root, out=tmp_path / "run"))
    assert main(["preprocess", str(root), "--out", str(cache), "--config", str(config), "--split", "train",
                 "--workers", "0", "--no-progress"]) == 0
    assert "(0 computed, 3 cached)" in capsys.readouterr().out  # the flag and the config share one key
    entries = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert main(["train", "--config", str(config), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == entries  # nothing recomputed
    assert (tmp_path / "run" / "best.pt").is_file()


def test_so2_preprocessing_refuses_a_moebius_strip_in_one_line(tmp_path, capsys):
    root = _data_with_strip(tmp_path / "data")
    code = main(["preprocess", str(root), "--out", str(tmp_path / "c"), "--split", "train", "--strict", *FLAGS])
    assert code == 2
    err = one_line_error(capsys, NON_ORIENTABLE)
    assert "strip" in err and 'structure_group="O2"' in err
    assert main(["preprocess", str(root), "--out", str(tmp_path / "c"), "--split", "train", *FLAGS]) == 0
    out = capsys.readouterr().out
    assert "2 meshes ready" in out and "skipped strip:" in out and NON_ORIENTABLE in out


def test_structure_group_flag_and_config_do_not_mix(tmp_path, capsys):
    root = tiny_data(tmp_path / "data")
    config = tmp_path / "config.toml"
    config.write_text(O2_CONFIG.format(root=root, out=tmp_path / "run"))
    assert main(["preprocess", str(root), "--out", str(tmp_path / "c"), "--config", str(config),
                 "--structure-group", "O2"]) == 2
    one_line_error(capsys, "--structure-group cannot be given with --config")
    assert main(["preprocess", str(root), "--out", str(tmp_path / "c"), "--structure-group", "O2",
                 "--connection", "projection"]) == 2
    one_line_error(capsys, "levi-civita")
