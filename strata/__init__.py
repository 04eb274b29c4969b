"""The launcher above the layers: the CLI, the service registry, the local stack and the demo.

It may import every layer; nothing imports it.
"""
