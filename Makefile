# gaugemesh: every target works on a fresh machine with nothing but Python installed.
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
GM := $(VENV)/bin/gaugemesh
STAMP := $(VENV)/.installed

# make train DATA=my_meshes                  the default recipe, chosen from the data: runs/my_meshes
# make train TASK=human_seg DATA=../shared/datasets/human_seg [ARGS="train.epochs=5"]
#                                            a shipped experiment's config: runs/human_seg
TASK ?=
DATA ?= data/synthetic
RUN ?= runs/$(if $(TASK),$(TASK),$(notdir $(abspath $(DATA))))
CHECKPOINT ?= $(RUN)/best.pt
SPLIT ?= test
MESH ?= $(DATA)/synth_0000.off
ARGS ?=

.PHONY: install test test-gpu demo train eval transfer remeshing predict bench bench-geometry bench-conv bench-preprocess bench-train bench-scale bench-discs \
	bench-gpu sphere soak clean

# Torch is pinned so that no resolver pulls a multi-GB CUDA build by accident.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[test]" "torch==$(TORCH_VERSION)"
	touch $(STAMP)

install: $(STAMP)

# Two pytest workers with one thread each: the tests are small, and two OpenMP threads per
# worker would make the workers spin-wait on each other's cores (measured: 114 s serially,
# 74 s this way, on 2 cores).
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 tests

# On a machine with a CUDA GPU; test-gpu and bench-gpu together take a few minutes.
# The tests marked cuda: every layer and model under autocast on the GPU against the CPU,
# the geometry operators, a training step, eval, predict, and DDP with NCCL on 2 GPUs.
test-gpu: $(STAMP)
	@$(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
		'make test-gpu needs a CUDA device: torch.cuda.is_available() is False')"
	$(PY) -m pytest -q -m cuda tests

# The main job on the synthetic dataset the project generates: data, preprocessing,
# training, evaluation on the held-out test split, and pictures of predictions. A second
# run replaces the first (--overwrite).
demo: $(STAMP)
	$(GM) make-synthetic data/synthetic
	$(GM) preprocess data/synthetic --out data/synthetic/processed --workers 2 \
		--config experiments/synthetic/config.toml
	$(GM) train --overwrite --config experiments/synthetic/config.toml output.dir=runs/synthetic $(ARGS)
	$(GM) eval --checkpoint runs/synthetic/best.pt --data data/synthetic --split test \
		--cache data/synthetic/processed --json runs/synthetic/test_metrics.json
	$(GM) predict data/synthetic/synth_0000.off --checkpoint runs/synthetic/best.pt --out runs/synthetic/predictions
	@echo "results: runs/synthetic/test_metrics.json, runs/synthetic/curves.png," \
		"runs/synthetic/predictions/synth_0000.png"

train: $(STAMP)
	$(GM) train $(if $(TASK),--config experiments/$(TASK)/config.toml) --data $(DATA) --out $(RUN) $(ARGS)

eval: $(STAMP)
	$(GM) eval --checkpoint $(CHECKPOINT) --data $(DATA) --split $(SPLIT) --json $(RUN)/$(SPLIT)_metrics.json

# human_seg's validation meshes refined 4x and 16x: face accuracy and agreement with the
# original resolution, e.g. make transfer CHECKPOINT=experiments/human_seg/gem_resnet.pt DATA=../shared/datasets/human_seg
transfer: $(STAMP)
	$(PY) -m experiments.human_seg.resolution_transfer --checkpoint $(CHECKPOINT) --data $(DATA)

# the same validation bodies meshed five other ways (subdivision, isotropic remeshing, quadric
# decimation, marching cubes of a voxelisation and of a signed distance, ~4x the vertices):
# accuracy and pairwise agreement of the predictions; installs the remesh extra (pymeshlab,
# fast-simplification, scikit-image)
remeshing: $(STAMP)
	$(PY) -m pip install --quiet -e ".[remesh]" "torch==$(TORCH_VERSION)"
	$(PY) -m experiments.human_seg.remeshing --checkpoint $(CHECKPOINT) --data $(DATA)

predict: $(STAMP)
	$(GM) predict $(MESH) --checkpoint $(CHECKPOINT) --out $(RUN)/predictions

bench-geometry: $(STAMP)
	$(PY) experiments/bench/geometry.py

bench-conv: $(STAMP)
	$(PY) experiments/bench/conv.py

bench-preprocess: $(STAMP)
	$(PY) experiments/bench/preprocess.py

bench-train: $(STAMP)
	$(PY) -m experiments.bench.train_step

# A training step at 15k and 160k vertices (GemResNet and GemUNet) and preprocessing at 1M
# vertices, each in a process of its own so that its peak memory is its own.
bench-scale: $(STAMP)
	$(PY) -m experiments.bench.scale --only step --vertices 15000
	$(PY) -m experiments.bench.scale --only step --vertices 160000
	$(PY) -m experiments.bench.scale --only preprocess --vertices 1000000

# Geodesic-disc graphs (features.kernel_radius) of about 10, 40 and 150 neighbours per vertex
# at 10k and 164k vertices.
bench-discs: $(STAMP)
	$(PY) -m experiments.bench.discs

bench: bench-geometry bench-conv bench-preprocess bench-train bench-scale bench-discs

# The conv benchmark, a GemResNet step and training throughput on the GPU (fp32 and bf16),
# then the synthetic demo trained with --device cuda.
bench-gpu: $(STAMP)
	@mkdir -p runs
	$(PY) -m experiments.bench.gpu --json runs/bench_gpu.json
	$(MAKE) demo ARGS=train.device=cuda

# The sphere: measured SO(3) equivariance (about 11 minutes on 2 cores), then spherical
# digits trained unrotated and tested rotated (about 3 minutes); docs/sphere.md.
sphere: $(STAMP)
	$(PY) -m pip install --quiet -e ".[sphere]" "torch==$(TORCH_VERSION)"
	$(PY) -m experiments.sphere.equivariance
	$(PY) -m experiments.sphere.digits

# Soak (about 5 minutes on 2 cores): preprocess, train, resume and eval with random kill -9
# and a nearly full tmpfs; counts corrupt entries, lost checkpoints, orphans and leaked
# temporary files, which must all be zero (docs/reliability.md).
soak: $(STAMP)
	$(PY) -m experiments.soak --rounds 50

clean:
	rm -rf $(VENV) build *.egg-info
