"""``data.extra_train``: more meshes that train and never validate, from a folder of another layout."""

import numpy as np
import pytest
import torch

from gaugemesh.training import train_job
from gaugemesh.training.config import ConfigError, load_config
from gaugemesh.training.recipe import load_model
from gaugemesh.training.run_folder import JobError
from gaugemesh.training.train_job import common_keys, train
from tests.datasets.helpers import make_meshcnn, sphere, write_off

CONFIG = """
[data]
format = "meshcnn"
root = "{root}"
val_fraction = 0.25
workers = 0
extra_train = {extra}
[features]
names = ["hks", "curvature", "hks_grad"]
hks_count = 4
grad_count = 2
eigs = 16
[model]
width = 4
max_order = 1
num_blocks = 1
[train]
epochs = 1
batch_size = 2
lr = 0.02
seed = 0
device = "cpu"
[output]
dir = "{out}"
"""


def _face_labelled(root, num=3, classes=("0", "1")):
    """Spheres with face labels (``z`` of the centroid above the middle) in the generic layout."""
    (root / "labels").mkdir(parents=True)
    for i in range(num):
        pos, faces = sphere(10 + i)
        if i == 0:  # a defect that the generic layout refuses and MeshCNN's repairs
            faces = np.concatenate([faces, faces[:1]])
        write_off(root / f"copy{i}.off", pos, faces)
        labels = (pos[faces].mean(axis=1)[:, 2] > pos[:, 2].mean()).astype(int)
        np.savetxt(root / "labels" / f"copy{i}.txt", labels, fmt="%d")
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in classes))
    (root / "dataset.toml").write_text('labels = "files"\nlabel_kind = "face"\n')
    return root


def _config(tmp_path, extra, out="run"):
    path = tmp_path / f"{out}.toml"
    path.write_text(CONFIG.format(root=tmp_path / "data", extra=repr([str(e) for e in extra]).replace("'", '"'),
                                  out=tmp_path / out))
    return load_config(path, [])


@pytest.fixture
def spy(monkeypatch):
    """The training and validation sets the Trainer gets (the job still runs)."""
    seen = {}
    original = train_job.Trainer

    def trainer(model, train_set, val_set, *args, **kwargs):
        seen["train"], seen["val"] = train_set, val_set
        return original(model, train_set, val_set, *args, **kwargs)

    monkeypatch.setattr(train_job, "Trainer", trainer)
    return seen


def test_extra_meshes_train_and_never_validate(tmp_path, spy):
    make_meshcnn(tmp_path / "data", num=4)
    extra = _face_labelled(tmp_path / "copies")
    train(_config(tmp_path, [], out="plain"), progress=False)
    plain_train, plain_val = len(spy["train"]), len(spy["val"])
    train(_config(tmp_path, [extra], out="run"), progress=False)  # batches mix the two layouts
    # all three: the copy with a doubled face repaired, as the MeshCNN dataset's meshes are
    assert len(spy["train"]) == plain_train + 3 and len(spy["val"]) == plain_val
    # the validation split and its evaluation labels are untouched
    assert load_model(tmp_path / "run" / "best.pt")[1]["val_names"] == \
        load_model(tmp_path / "plain" / "best.pt")[1]["val_names"]
    assert all("edge_y" in d for d in spy["val"]) and not any("edge_y" in d for d in spy["train"])


def test_extra_meshes_with_other_classes_are_refused(tmp_path):
    make_meshcnn(tmp_path / "data", num=4)
    extra = _face_labelled(tmp_path / "copies", classes=("head", "tail"))
    with pytest.raises(JobError, match="classes"):
        train(_config(tmp_path, [extra]), progress=False)
    with pytest.raises(ConfigError, match="not a folder"):
        train(_config(tmp_path, [tmp_path / "nowhere"]), progress=False)


def test_common_keys_drops_only_what_some_samples_lack():
    from torch_geometric.data import Data

    a = Data(x=torch.zeros(3, 2), y=torch.zeros(3), edge_y=torch.zeros(4))
    b = Data(x=torch.ones(2, 2), y=torch.ones(2), face_y=torch.ones(1))
    assert common_keys([a, a]) == [a, a]  # nothing to drop: the very samples
    kept = common_keys([a, b])
    assert [sorted(d.keys()) for d in kept] == [["x", "y"], ["x", "y"]]
    assert kept[0].x is a.x and "edge_y" in a  # tensors shared, the originals untouched
