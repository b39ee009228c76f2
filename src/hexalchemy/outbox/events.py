"""Domain events recorded in the outbox by the repository that saves their aggregate.

An aggregate names a field of pending events in its :class:`~hexalchemy.ports.EntitySpec`
(``EntitySpec(Order, key="id", version="version", events="events")``). Wrap its repository
in :class:`EventRecordingRepository`: ``save`` then stores the aggregate, writes one outbox
message per pending event in the same ambient transaction, and returns the aggregate
with no pending events. The events commit or roll back with the aggregate.

Events are serialised with a cattrs converter to JSON; each message carries the topic
chosen by ``topic_for`` (the event's class name by default), the aggregate's key as its
ordering key (so one aggregate's events are delivered in order), and headers naming the
event and aggregate types.

The async repository is written in ``_async/events.py`` and the sync one generated from it
(``make generate``); what they share is in ``_events_core.py``.
"""

from hexalchemy.outbox._async.events import AsyncEventRecordingRepository
from hexalchemy.outbox._events_core import EventSerializer
from hexalchemy.outbox._sync.events import EventRecordingRepository

__all__ = ["AsyncEventRecordingRepository", "EventRecordingRepository", "EventSerializer"]
