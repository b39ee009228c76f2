"""The async broker publishers, written by hand: the source of their sync twins in ``_sync`` (``make generate``)."""
