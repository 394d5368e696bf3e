"""Experiments on the sphere: measured SO(3) equivariance and rotated spherical digits."""
