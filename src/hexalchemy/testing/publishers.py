"""In-memory publishers for tests: :class:`CollectingPublisher` and its async twin.

A collecting publisher records every message it accepts (thread-safely, in the order the
broker would have seen them) and can be told to fail chosen messages, fail everything,
or raise, so tests can check what a relay delivers, retries and dead-letters::

    publisher = CollectingPublisher()
    publisher.fail_message(poison.id, "schema rejected")   # always refuses this message
    relay = OutboxRelay(store, publisher)
    relay.run_once()
    assert [message.id for message in publisher.delivered] == [good.id]

All the logic lives in ``_publishers_core.py``; the publishers are thin shells, the async
one written in ``_async/publishers.py`` and the sync one generated from it (``make generate``).
"""

from hexalchemy.testing._async.publishers import AsyncCollectingPublisher
from hexalchemy.testing._sync.publishers import CollectingPublisher

__all__ = ["AsyncCollectingPublisher", "CollectingPublisher"]
