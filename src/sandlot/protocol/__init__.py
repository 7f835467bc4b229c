"""The wire layer: botocore service models in, (operation, params) out, and back.

Only this package knows how AWS requests and responses look on the wire. Providers
see plain dicts keyed by the model's member names; this layer parses and serialises
them for the json, rest-json, rest-xml and query protocols.
"""

from sandlot.protocol._serial_json import dumps as json_dumps
from sandlot.protocol._serial_json import loads as json_loads
from sandlot.protocol._serial_raw import RawJson
from sandlot.protocol.errors import ServiceError
from sandlot.protocol.http import (
    EventStreamBody,
    FileBody,
    HttpRequest,
    HttpResponse,
    SpooledBody,
)

__all__ = [
    "EventStreamBody",
    "FileBody",
    "HttpRequest",
    "HttpResponse",
    "RawJson",
    "ServiceError",
    "SpooledBody",
    "json_dumps",
    "json_loads",
]
