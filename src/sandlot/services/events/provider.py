"""Amazon EventBridge's API: the provider class, assembled from one mixin per area
(buses and their policies, rules and targets, PutEvents and schedules, archives
and replays, connections and API destinations) over
``EventsBase``."""

from __future__ import annotations

from sandlot.services.events.apidestinations import ApiDestinationOperations
from sandlot.services.events.buses import BusOperations


class EventsProvider(BusOperations, ApiDestinationOperations):
    service = "events"
