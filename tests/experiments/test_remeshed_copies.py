"""Remeshed training copies: labels carried to the new faces, and never a validation body."""

import numpy as np

from experiments.human_seg.remeshed_copies import carried_labels, training_bodies
from experiments.human_seg.resolution_transfer import subdivide
from gaugemesh.datasets import train_val_split
from tests.datasets.helpers import make_meshcnn, sphere


def test_labels_follow_the_surface_to_the_new_faces():
    pos, faces = sphere(0, subdivisions=2)
    labels = (pos[faces].mean(axis=1)[:, 0] > 0).astype(int)
    rng = np.random.default_rng(0)
    fine_pos, fine_faces = subdivide(pos, faces, 0.0, rng)  # each face split in 4, in order
    carried = carried_labels(pos, faces, labels, fine_pos, fine_faces, rng)
    # A child's centroid lies inside its parent, so it finds it (up to the sampling near edges).
    assert np.mean(carried == np.repeat(labels, 4)) > 0.97
    assert set(np.unique(carried)) == {0, 1}


def test_training_bodies_leave_out_the_validation_split(tmp_path):
    root = make_meshcnn(tmp_path / "data", num=8)
    data = {"root": str(root), "val_fraction": 0.25, "split_seed": 3, "val_group_pattern": ""}
    _, items, names = training_bodies(data)
    every = sorted(item.name for item in items)
    _, val_idx = train_val_split(every, 0.25, 3)
    assert len(names) == 6 and set(names).isdisjoint(every[i] for i in val_idx)
    assert set(names) | {every[i] for i in val_idx} == set(every)
