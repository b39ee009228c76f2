"""The sync inbox harnesses, generated from ``_async`` by ``make generate``: do not edit them here."""
