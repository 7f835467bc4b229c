"""Amazon EventBridge's API: the provider class, assembled from one mixin per area
(buses and their policies, rules and targets, PutEvents and schedules) over
``EventsBase``."""

from __future__ import annotations

from sandlot.services.events.buses import BusOperations
from sandlot.services.events.putevents import PutEventsOperations


class EventsProvider(BusOperations, PutEventsOperations):
    service = "events"
