"""Training throughput of ``Trainer``: steps per second once caches are warm.

    python experiments/bench/train_step.py                       # CPU, 24 meshes of 642 vertices
    python experiments/bench/train_step.py --device cuda --precision bf16 --vertices 10242

The dataset is made on the spot: jittered icospheres with random input features of type
``4x0 + 2x1`` and random labels, trained with the same random gauge augmentation as
``gaugemesh train``. Epoch 1 builds whatever the trainer keeps (each mesh's convolution
operators); the figure is the median steps/s of the later epochs, so it is what a long run
sees. It uses only APIs that earlier versions have too, so the same script measures a
checkout from before a change (``PYTHONPATH=<old checkout> python <this file>``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import tempfile

import numpy as np
import torch

SUBDIVISIONS = {162: 2, 642: 3, 2562: 4, 10242: 5, 40962: 6}


def make_dataset(count: int, vertices: int, seed: int = 0):
    import trimesh

    import gaugemesh

    rng = np.random.default_rng(seed)
    sphere = trimesh.creation.icosphere(SUBDIVISIONS[vertices])
    out = []
    for _ in range(count):
        pos = sphere.vertices * (1 + 0.1 * rng.random((len(sphere.vertices), 1)))
        data = gaugemesh.mesh_to_data(gaugemesh.validate_mesh(pos, sphere.faces))
        data.x = torch.from_numpy(rng.standard_normal((data.num_nodes, 8))).float()
        data.y = torch.from_numpy((pos[:, 2] > 0).astype(np.int64))
        data.x_type = "4x0 + 2x1"
        out.append(data)
    return out


def run(args) -> dict:
    from gaugemesh.models import GemResNet
    from gaugemesh.training.loop import Trainer, TrainSettings

    try:
        from gaugemesh.training.augment import make_augment
    except ImportError:  # a checkout from before training/job.py was split, measured for comparison
        from gaugemesh.training.job import make_augment

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dataset = make_dataset(args.meshes, args.vertices)
    settings = dict(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, seed=0, device=args.device)
    if "precision" in inspect.signature(TrainSettings).parameters:  # older versions had none
        settings["precision"] = args.precision
    model = GemResNet("4x0 + 2x1", 2, width=16, max_order=2, num_blocks=args.blocks)
    config = {"augment": {"gauge": True, "rotate": False}, "features": {"names": ["hks"]}}
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, dataset, [], TrainSettings(**settings), out, dict(config={}, class_names=["a", "b"],
                          in_type="4x0 + 2x1"), augment=make_augment(config, "4x0 + 2x1"), progress=False)
        rows = trainer.fit()
    steps = -(-args.meshes // args.batch_size)
    rates = [steps / row["epoch_s"] for row in rows[1:]]
    return {"device": args.device, "vertices": args.vertices, "meshes": args.meshes, "batch_size": args.batch_size,
            "first_epoch_steps_per_s": round(steps / rows[0]["epoch_s"], 2),
            "steps_per_s": round(statistics.median(rates), 2), "epochs_timed": len(rates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--meshes", type=int, default=24)
    parser.add_argument("--vertices", type=int, default=642, choices=sorted(SUBDIVISIONS))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
