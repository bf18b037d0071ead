"""The ``strongroom`` command line: a thin layer over the library."""

from strongroom.cli.app import app, main

__all__ = ["app", "main"]
