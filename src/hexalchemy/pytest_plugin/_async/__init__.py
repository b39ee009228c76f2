"""The async source of the plugin's harnesses (``make generate`` writes the sync ones into ``_sync/``)."""
