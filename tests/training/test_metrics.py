"""Segmentation metrics: hand-made cases, a slow plain-Python reference on random meshes, sums
over a split (not means over its meshes), the ignore index, and :func:`evaluate`."""

import json
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from gaugemesh.training.loop import evaluate
from gaugemesh.training.metrics import (
    SegmentationCounts,
    accuracy,
    confusion_matrix,
    edge_acc_hard,
    edge_acc_soft,
    face_acc,
    mean_iou,
    per_class_accuracy,
    per_class_iou,
    segmentation_metrics,
    vertex_acc,
    vertex_to_edge,
    vertex_to_face,
)

NAN = float("nan")


# -- hand-made cases ----------------------------------------------------------------------


def test_edges_and_faces_average_vertex_probabilities():
    logits = torch.tensor([[5.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    edges = torch.tensor([[0, 1], [1, 2]])
    # Edge (0, 1): a confident 0 outweighs a weak 1; edge (1, 2) is 1.
    torch.testing.assert_close(vertex_to_edge(logits, edges), torch.tensor([0, 1]))
    torch.testing.assert_close(vertex_to_face(torch.tensor([1, 1, 0]), torch.tensor([[0], [1], [2]])), torch.tensor([1]))


def test_accuracies_and_ignore_index():
    assert vertex_acc(torch.tensor([0, 1, 1]), torch.tensor([0, 0, -1])) == 0.5
    assert edge_acc_hard(torch.tensor([2, 2]), torch.tensor([2, 1])) == 0.5
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert edge_acc_soft(torch.tensor([1, 1]), soft) == 0.5  # boundary edge accepts either side
    assert face_acc(torch.tensor([3]), torch.tensor([3])) == 1.0
    with pytest.raises(ValueError, match="no labelled"):
        vertex_acc(torch.tensor([0]), torch.tensor([-1]))


def test_confusion_and_its_scores_by_hand():
    target = torch.tensor([0, 0, 1, 1, 2, -1])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])  # the ignored element's prediction counts nowhere
    confusion = confusion_matrix(pred, target, 4)
    assert confusion.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert accuracy(confusion) == pytest.approx(3 / 5)
    torch.testing.assert_close(per_class_accuracy(confusion), torch.tensor([0.5, 1.0, 0.0, NAN], dtype=torch.float64),
                               equal_nan=True)
    # IoU: class 0 1/(2+2-1), class 1 2/(2+3-2), class 2 0/(1+0-0); class 3 in neither: undefined.
    torch.testing.assert_close(per_class_iou(confusion), torch.tensor([1 / 3, 2 / 3, 0.0, NAN], dtype=torch.float64),
                               equal_nan=True)
    assert mean_iou(confusion) == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)


def test_a_class_only_predicted_counts_in_the_mean_iou():
    confusion = confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 3)
    # Class 1 was predicted but never labelled: IoU 0, in the mean; class 2: in neither, out.
    assert per_class_iou(confusion)[:2].tolist() == [0.5, 0.0] and math.isnan(per_class_iou(confusion)[2])
    assert mean_iou(confusion) == pytest.approx(0.25)
    assert math.isnan(per_class_accuracy(confusion)[1])  # no labelled element of class 1


def test_ignore_index_and_out_of_range_labels():
    assert confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 255, 1]), 2, ignore_index=255).tolist() == [
        [1, 0], [0, 1]]
    with pytest.raises(ValueError, match="a label outside 0..1"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match="a label outside 0..1"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, -2]), 2)  # -2 is not the ignore index
    with pytest.raises(ValueError, match="a prediction outside 0..1"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 2)
    everything_ignored = confusion_matrix(torch.tensor([0]), torch.tensor([-1]), 2)
    for score in (accuracy, mean_iou):
        with pytest.raises(ValueError, match="no labelled"):
            score(everything_ignored)
    data = Data(y=torch.tensor([-1, -1]), num_nodes=2)
    with pytest.raises(ValueError, match="no labelled"):
        segmentation_metrics(data, torch.zeros(2, 3))


def _sample(shift):
    return Data(
        y=torch.tensor([0, 1, 1]),
        seg_edge_index=torch.tensor([[0, 1], [1, 2]]).T.contiguous(),
        edge_y=torch.tensor([0, 1]),
        edge_soft=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        seg_face_index=torch.tensor([[0, 1, 2]]).T.contiguous(),
        face_y=torch.tensor([1]),
        num_nodes=3,
    ), torch.tensor([0, 1, 1]) if shift == 0 else torch.tensor([1, 1, 1])


def test_batched_metrics_use_offset_indices():
    (a, pa), (b, pb) = _sample(0), _sample(1)
    batch = Batch.from_data_list([a, b])
    got = segmentation_metrics(batch, torch.cat([pa, pb]))
    assert got["vertex_acc"] == pytest.approx(5 / 6)
    assert got["edge_acc_hard"] == pytest.approx(3 / 4)  # the second sample's edge (0,1) -> 1 is wrong
    assert got["face_acc"] == 1.0
    # Vertices: class 0 hit 1 of (1 labelled + 1 predicted - 1); class 1 hit 4 of (4 + 5 - 4).
    assert got["vertex_miou"] == pytest.approx((1 / 2 + 4 / 5) / 2)


def test_a_split_is_scored_from_summed_counts_not_mean_of_meshes():
    one = Data(y=torch.tensor([0]), num_nodes=1)
    three = Data(y=torch.tensor([1, 1, 1]), num_nodes=3)
    counts = SegmentationCounts(2).add(one, torch.tensor([0])).add(three, torch.tensor([0, 0, 0]))
    assert counts.metrics()["vertex_acc"] == pytest.approx(1 / 4)  # a mean of the meshes would say 1/2
    # Class 0: 1 hit of (1 labelled + 4 predicted - 1); class 1: 0 hits. Per mesh the means differ.
    assert counts.metrics()["vertex_miou"] == pytest.approx((1 / 4 + 0) / 2)


# -- a slow, obvious reference on random meshes -------------------------------------------


def _softmax(row):
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    return [e / sum(exps) for e in exps]


def _slow_pool(logits, index):
    """Argmax of the mean probability of each element's vertices, loop by loop."""
    probs = [_softmax(row) for row in logits.tolist()]
    columns = index.t().tolist()
    out = []
    for corners in columns:
        mean = [sum(probs[v][c] for v in corners) / len(corners) for c in range(len(probs[0]))]
        out.append(max(range(len(mean)), key=lambda c: mean[c]))
    return out


def _slow_scores(pairs, num_classes):
    """(accuracy, per-class accuracy, per-class IoU, mean IoU) of labelled (target, pred) pairs."""
    acc = sum(t == p for t, p in pairs) / len(pairs)
    per_acc, per_iou = [], []
    for c in range(num_classes):
        hits = sum(1 for t, p in pairs if t == c and p == c)
        labelled = sum(1 for t, _ in pairs if t == c)
        predicted = sum(1 for _, p in pairs if p == c)
        per_acc.append(hits / labelled if labelled else None)
        union = labelled + predicted - hits
        per_iou.append(hits / union if union else None)
    defined = [v for v in per_iou if v is not None]
    return acc, per_acc, per_iou, sum(defined) / len(defined)


C = 5


def _random_mesh(generator):
    """A mesh-shaped Data with labels on vertices, edges (hard and soft) and faces, ~15% ignored;
    class 4 never labelled and its logit low, so that it is in neither target nor prediction."""
    v, e, f = (int(torch.randint(low, high, (1,), generator=generator)) for low, high in ((6, 15), (8, 30), (4, 20)))

    def labels(n):
        y = torch.randint(0, C - 1, (n,), generator=generator)
        return torch.where(torch.rand(n, generator=generator) < 0.15, -1, y)

    soft = (torch.rand(e, C, generator=generator) < 0.4).float()
    soft[:, C - 1] = 0
    data = Data(y=labels(v), num_nodes=v,
                seg_edge_index=torch.randint(0, v, (2, e), generator=generator), edge_y=labels(e), edge_soft=soft,
                seg_face_index=torch.randint(0, v, (3, f), generator=generator), face_y=labels(f))
    logits = torch.randn(v, C, generator=generator, dtype=torch.float64)
    logits[:, C - 1] = -30.0
    return data, logits


def _reference(meshes):
    """Every metric of the split by plain loops over all its elements, pooled."""
    pairs = {"vertex": [], "edge": [], "face": []}
    soft_hits = soft_total = 0
    for data, logits in meshes:
        vertex_pred = [max(range(C), key=lambda c: row[c]) for row in logits.tolist()]
        edge_pred = _slow_pool(logits, data.seg_edge_index)
        face_pred = _slow_pool(logits, data.seg_face_index)
        for kind, target, pred in (("vertex", data.y, vertex_pred), ("edge", data.edge_y, edge_pred),
                                   ("face", data.face_y, face_pred)):
            pairs[kind] += [(t, p) for t, p in zip(target.tolist(), pred) if t != -1]
        for k, (t, p) in enumerate(zip(data.edge_y.tolist(), edge_pred)):
            if t != -1:
                soft_total += 1
                soft_hits += data.edge_soft[k, p].item() > 0
    return {kind: _slow_scores(p, C) for kind, p in pairs.items()}, soft_hits / soft_total


def _assert_matches(report, reference, soft):
    for kind, (acc, per_acc, per_iou, miou) in reference.items():
        got = report[kind]
        assert got["accuracy"] == pytest.approx(acc) and got["mean_iou"] == pytest.approx(miou)
        assert list(got["per_class_accuracy"].values()) == pytest.approx(per_acc)
        assert list(got["per_class_iou"].values()) == pytest.approx(per_iou)
        assert got["per_class_iou"][str(C - 1)] is None and got["classes_in_mean_iou"] == C - 1
    assert report["vertex_acc"] == report["vertex"]["accuracy"] and report["face_miou"] == report["face"]["mean_iou"]
    assert report["edge_acc_hard"] == report["edge"]["accuracy"]
    assert report["edge_acc_soft"] == pytest.approx(soft)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_counts_match_a_slow_reference(seed):
    generator = torch.Generator().manual_seed(seed)
    meshes = [_random_mesh(generator) for _ in range(4)]
    reference, soft = _reference(meshes)
    by_mesh = SegmentationCounts(C)
    for data, logits in meshes:
        by_mesh.add(data, logits)
    _assert_matches(by_mesh.report(), reference, soft)
    # One batch of the whole split (indices offset by PyG) gives the same counts.
    batch = Batch.from_data_list([data for data, _ in meshes])
    by_batch = SegmentationCounts(C).add(batch, torch.cat([logits for _, logits in meshes]))
    assert all(torch.equal(by_batch.confusion[k], by_mesh.confusion[k]) for k in ("vertex", "edge", "face"))
    assert (by_batch.soft_hits, by_batch.soft_total) == (by_mesh.soft_hits, by_mesh.soft_total)
    # Each mesh counted on its own and merged (gaugemesh eval's per-mesh numbers) too.
    merged = SegmentationCounts(C)
    for data, logits in meshes:
        merged.merge(SegmentationCounts(C).add(data, logits))
    _assert_matches(merged.report(), reference, soft)
    with pytest.raises(ValueError, match="cannot merge counts of 2 classes"):
        merged.merge(SegmentationCounts(2))


def test_report_names_classes_and_is_plain_json():
    generator = torch.Generator().manual_seed(3)
    data, logits = _random_mesh(generator)
    names = ["head", "arm", "leg", "arm", "tail"]  # a repeated name is told apart by its index
    report = SegmentationCounts(C).add(data, logits).report(names)
    assert report["class_names"] == ["head", "arm (1)", "leg", "arm (3)", "tail"]
    assert list(report["vertex"]["per_class_iou"]) == report["class_names"]
    assert report["labels_on"] == "edge"
    assert sum(report["face"]["support"].values()) == report["face"]["labelled"] == int((data.face_y >= 0).sum())
    assert json.loads(json.dumps(report, allow_nan=False)) == report  # no NaN: undefined is null
    with pytest.raises(ValueError, match="2 class names for 5 classes"):
        SegmentationCounts(C).report(["a", "b"])


def test_labels_on_the_kind_the_dataset_labels():
    vertices = SegmentationCounts(2).add(Data(y=torch.tensor([0, 1]), num_nodes=2), torch.tensor([0, 1]))
    assert vertices.labels_on == "vertex" and set(vertices.metrics()) == {"vertex_acc", "vertex_miou"}
    faces = Data(y=torch.tensor([0, 1, 1]), seg_face_index=torch.tensor([[0], [1], [2]]), face_y=torch.tensor([1]),
                 num_nodes=3)
    assert SegmentationCounts(2).add(faces, torch.tensor([0, 1, 1])).labels_on == "face"


# -- evaluate(): the validation numbers of the training loop ------------------------------


class _Fixed(torch.nn.Module):
    """A model whose logits are stored on the data."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def forward(self, data):
        return data.logits


def test_evaluate_pools_the_split_across_batches():
    generator = torch.Generator().manual_seed(4)
    meshes = [_random_mesh(generator) for _ in range(5)]
    dataset = [Data(**{k: v for k, v in data.items()}, logits=logits.float()) for data, logits in meshes]
    got = evaluate(_Fixed(), dataset, torch.device("cpu"), batch_size=2)
    reference, soft = _reference([(d, d.logits.double()) for d in dataset])
    for kind, (acc, _, _, miou) in reference.items():
        assert got[f"{kind}_acc_hard" if kind == "edge" else f"{kind}_acc"] == pytest.approx(acc)
        assert got[f"{kind}_miou"] == pytest.approx(miou)
    assert got["edge_acc_soft"] == pytest.approx(soft)
    losses = [-math.log(_softmax(row)[t]) for d in dataset for row, t in zip(d.logits.tolist(), d.y.tolist()) if t != -1]
    assert got["loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-5)
