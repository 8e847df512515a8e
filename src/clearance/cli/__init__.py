"""The command line: parses, calls the library, renders. Exit codes: 0 done, 2 bad input, 1 bug."""

from clearance.cli.app import app, main

__all__ = ["app", "main"]
