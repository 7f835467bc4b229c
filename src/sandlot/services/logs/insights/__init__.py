"""CloudWatch Logs Insights queries: ``parse_query`` (parser.py) and ``run`` (evaluate.py),
a pure engine over log events, used by the logs provider's StartQuery."""

from sandlot.services.logs.insights.evaluate import check, discover, format_value, run
from sandlot.services.logs.insights.parser import QueryError, parse_query

__all__ = ["QueryError", "check", "discover", "format_value", "parse_query", "run"]
