"""Experiment recipes: one Python file per experiment, meant to be copied and edited.

Installed as `cenkeras.recipes`: the built-in recipes (synthetic scenes,
NYUDv2, SUN RGB-D, MFNet, Taskonomy), which `cenkeras recipes` lists.
"""
