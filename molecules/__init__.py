"""Demonstration-conditioned molecule generation (see the molecules issue).

It will reuse the transformer blocks of :mod:`tabicl.blocks`.
"""
