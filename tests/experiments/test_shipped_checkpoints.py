"""Every checkpoint shipped in experiments/ loads and segments a small new mesh: the configs
they carry still build their models and their samples (hierarchies, geodesic discs)."""

from pathlib import Path

import numpy as np
import pytest
import trimesh

from gaugemesh.training.predict_job import Predictor

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
CHECKPOINTS = sorted(EXPERIMENTS.glob("*/*.pt"))


def test_the_experiments_ship_checkpoints():
    assert {p.parent.name for p in CHECKPOINTS} >= {"human_seg", "rna_seg"}


@pytest.fixture(scope="module")
def bumpy_sphere(tmp_path_factory):
    sphere = trimesh.creation.icosphere(3)
    radius = 1 + 0.1 * np.random.default_rng(0).random(len(sphere.vertices))
    path = tmp_path_factory.mktemp("mesh") / "bumpy.obj"
    trimesh.Trimesh(sphere.vertices * radius[:, None], sphere.faces).export(path)
    return path, len(sphere.vertices)


@pytest.mark.parametrize("checkpoint", CHECKPOINTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_checkpoint_segments_a_new_mesh(checkpoint, bumpy_sphere):
    path, num_vertices = bumpy_sphere
    predictor = Predictor(checkpoint)
    prediction = predictor.predict(path)
    assert prediction.vertex_labels.shape == (num_vertices,)
    assert 0 <= prediction.vertex_labels.min() and prediction.vertex_labels.max() < len(predictor.class_names)
