"""The sync broker publishers, generated from ``_async`` by ``make generate``: do not edit them here."""
