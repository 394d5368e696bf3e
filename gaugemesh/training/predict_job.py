"""``gaugemesh predict``: segment a mesh file with a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gaugemesh.graph import add_features, mesh_to_data
from gaugemesh.io import read_mesh_arrays
from gaugemesh.mesh import validate_mesh
from gaugemesh.training.loop import predict_scores, resolve_device
from gaugemesh.training.precision import Precision
from gaugemesh.training.recipe import feature_options, load_model
from gaugemesh.training.run_folder import check_out_dir

__all__ = ["predict_mesh"]


def predict_mesh(mesh_path, checkpoint, out_dir, device: str = "cpu", precision: str = "auto") -> dict[str, Path]:
    """Segment one mesh file; writes ``<name>.labels.txt`` (one label per file vertex, -1
    for vertices a repair dropped), ``<name>.ply`` (colored) and ``<name>.png`` (renders)."""
    from gaugemesh.render import render_segmentation, write_colored_ply

    out_dir = Path(out_dir)
    check_out_dir(out_dir, "--out")
    model, state = load_model(checkpoint, device)
    config = state["config"]
    file_pos, file_faces = read_mesh_arrays(mesh_path)
    mesh = validate_mesh(file_pos, file_faces, repair=True)
    data = mesh_to_data(mesh, connection=config["features"].get("connection", "levi-civita"), dtype=torch.float64)
    data = add_features(data, config["features"]["names"], feature_options(config["features"]))
    data.x = data.x.float()
    for key in ("theta", "transport", "edge_weight"):
        data[key] = data[key].float()
    run_on = resolve_device(device)
    labels = predict_scores(model, data, run_on, Precision.resolve(precision, run_on)).argmax(1).numpy()
    file_labels = np.full(len(file_pos), -1)
    file_labels[mesh.vertex_map[::-1]] = labels[::-1]  # first copy of a split vertex wins
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(mesh_path).stem
    paths = {"labels": out_dir / f"{stem}.labels.txt", "ply": out_dir / f"{stem}.ply", "png": out_dir / f"{stem}.png"}
    np.savetxt(paths["labels"], file_labels, fmt="%d")
    write_colored_ply(paths["ply"], mesh.pos, mesh.faces, labels)
    render_segmentation(paths["png"], mesh.pos, mesh.faces, labels, title=f"{stem}: predicted segmentation")
    return paths
