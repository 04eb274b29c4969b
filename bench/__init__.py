"""Strata's benchmark suite: ``python -m bench [name ...]`` (``make bench``)."""
