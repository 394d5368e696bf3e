"""Mesh hierarchies for multi-scale networks, in data-flow order: :mod:`~gaugemesh.hierarchy.levels`
(coarse levels of a validated mesh as meshes of their own, each with an exact frame field, and
the parallel-transport maps between levels; float64 numpy), :mod:`~gaugemesh.hierarchy.data`
(the levels in a batchable PyG ``Data``) and :mod:`~gaugemesh.hierarchy.testing` (equivariance
checks with a gauge of its own at every level); :mod:`~gaugemesh.hierarchy.resample` uses one
coarse level to bring a fine input mesh to the density a model was trained on.

A floor above the validated mesh and the frame field: coarse levels are repaired with
:func:`~gaugemesh.validate_mesh`, which the pure geometry below must not depend on.
"""
