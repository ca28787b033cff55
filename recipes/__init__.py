"""Experiment recipes: one Python file per experiment, meant to be copied and edited.

Installed as `cenkeras.recipes`. The segmentation and translation issues add
the built-in recipes (synthetic RGB-D, NYUDv2, SUN RGB-D, Taskonomy).
"""
