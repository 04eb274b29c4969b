"""Simulators of the outside systems Strata talks to, for tests and the demo.

Each simulator behaves like the real system as documented, so that code tested against it
keeps working against the real thing.
"""
