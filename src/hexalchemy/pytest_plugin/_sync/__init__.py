"""The plugin's sync harnesses, generated from ``_async/`` by ``make generate``."""
