"""Colored PLY and PNG renders of a segmentation."""

import numpy as np

from gaugemesh import load_mesh
from gaugemesh.render import render_segmentation, write_colored_ply
from gaugemesh.training.metrics_log import MetricsLog, plot_training_curves
from tests.conftest import icosphere


def test_colored_ply_round_trips_geometry_and_labels(tmp_path):
    pos, faces = icosphere(2)
    labels = (pos[:, 2] > 0).astype(int) * 3
    path = write_colored_ply(tmp_path / "seg.ply", pos, faces, labels)
    mesh = load_mesh(path)
    np.testing.assert_allclose(mesh.pos, pos, atol=1e-5)
    lines = path.read_text().splitlines()
    start = lines.index("end_header") + 1
    np.testing.assert_array_equal([int(line.split()[-1]) for line in lines[start:start + len(pos)]], labels)


def test_render_writes_a_png_with_the_class_colors(tmp_path):
    import matplotlib.image

    pos, faces = icosphere(2)
    path = render_segmentation(tmp_path / "seg.png", pos, faces, (pos[:, 0] > 0).astype(int))
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 300
    # Two classes in distinct hues: both tab10 blue and orange appear (shaded).
    rgb = image[..., :3].reshape(-1, 3)
    assert np.any((rgb[:, 2] > rgb[:, 0] + 0.2)) and np.any((rgb[:, 0] > rgb[:, 2] + 0.2))


def test_metrics_log_and_curves(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for epoch in range(1, 5):
        log.append({"epoch": epoch, "train_loss": 1 / epoch, "val_acc": 0.2 * epoch})
    log.truncate_after(2)
    assert [row["epoch"] for row in log.read()] == [1, 2]
    assert plot_training_curves(log.read(), tmp_path / "curves.png").stat().st_size > 1000
