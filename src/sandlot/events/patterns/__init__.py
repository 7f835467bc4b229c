"""The one event-pattern matcher: EventBridge's pattern language and its SNS/Lambda dialects.

A pure engine (no I/O): compile a pattern once — validating it and refusing it with the
service's own error — then match many events. See docs/architecture.md ("Patterns").

from sandlot.events.patterns import (
    PatternError, compile_event_pattern, compile_filter_criteria, compile_filter_policy)

rule = compile_event_pattern('{"source": ["aws.s3"], "detail": {"size": [{"numeric": [">", 0]}]}}')
rule.matches({"source": "aws.s3", "detail": {"size": 5}})              # True
policy = compile_filter_policy('{"store": ["example_corp"]}', "MessageAttributes")
policy.matches_message(body, {"store": {"DataType": "String", "StringValue": "example_corp"}})
criteria = compile_filter_criteria({"Filters": [{"Pattern": '{"body": {"a": [1]}}'}]})
criteria.matches(sqs_record)                                            # body parsed if JSON
try: compile_event_pattern('{"a": 1}')
except PatternError as e: e.code, e.message   # InvalidEventPatternException, "Event pattern ..."
"""

from sandlot.events.patterns.dialects import (
    EVENT_PATTERN_MAX_LENGTH,
    LAMBDA_MAX_FILTERS,
    Dialect,
    FilterCriteria,
    FilterPolicy,
    Pattern,
    PatternError,
    Scope,
    compile_event_pattern,
    compile_filter_criteria,
    compile_filter_policy,
    compile_pattern,
    filter_view,
    sns_attribute_event,
)

__all__ = [
    "EVENT_PATTERN_MAX_LENGTH",
    "LAMBDA_MAX_FILTERS",
    "Dialect",
    "FilterCriteria",
    "FilterPolicy",
    "Pattern",
    "PatternError",
    "Scope",
    "compile_event_pattern",
    "compile_filter_criteria",
    "compile_filter_policy",
    "compile_pattern",
    "filter_view",
    "sns_attribute_event",
]
