"""The pictures: colored PLY and PNG renders of a segmentation, training curves, confusion matrices."""

import numpy as np

from gaugemesh import load_mesh
from gaugemesh.training.plots import plot_confusion, plot_training_curves, render_segmentation, write_colored_ply
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


def test_training_curves_draw_losses_accuracies_and_mean_ious(tmp_path):
    import matplotlib.image

    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_vertex_acc": 0.2 * e, "val_vertex_miou": 0.1 * e,
             "lr": 0.01} for e in range(1, 5)]
    image = matplotlib.image.imread(plot_training_curves(rows, tmp_path / "curves.png"))
    assert image.shape[:2] == (480, 1200)
    # Two curves per panel, in tab10's first two hues (each panel starts the cycle afresh);
    # the learning rate is not drawn, so no third hue anywhere.
    for panel in (image[:, :600], image[:, 600:]):
        rgb = (panel[..., :3].reshape(-1, 3) * 255).round()
        for color, drawn in (([31, 119, 180], True), ([255, 127, 14], True), ([44, 160, 44], False)):
            assert ((np.abs(rgb - color).sum(1) < 10).sum() > 50) == drawn, color


def test_confusion_picture_has_a_panel_per_element_kind(tmp_path):
    import matplotlib.image

    names = ["head", "arm", "leg"]
    two = plot_confusion({"vertex": [[5, 1, 0], [0, 3, 2], [1, 0, 9]], "edge": np.eye(3, dtype=int) * 4}, names,
                         tmp_path / "two.png", title="two kinds")
    two = matplotlib.image.imread(two)
    assert two.shape[1] == 2 * two.shape[0]  # two square panels side by side
    # A perfect row is the colormap's darkest blue; a row of fractions below one is lighter.
    dark = (np.abs(two[..., :3] - np.array([8, 48, 107]) / 255).sum(-1) < 0.05).sum()
    assert dark > 100
    many = plot_confusion({"vertex": np.ones((60, 60), dtype=int)}, [str(i) for i in range(60)], tmp_path / "many.png")
    assert many.stat().st_size > 1000  # no labels or counts drawn, still a picture
