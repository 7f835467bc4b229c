"""Amazon EventBridge's API: the provider class, assembled from one mixin per area
(buses and their policies, rules and targets, PutEvents and schedules, archives
and replays) over
``EventsBase``."""

from __future__ import annotations

from sandlot.services.events.archives import ArchiveOperations
from sandlot.services.events.buses import BusOperations


class EventsProvider(BusOperations, ArchiveOperations):
    service = "events"
