"""CloudWatch metric alarms end to end: failing invokes drive Lambda's Errors metric
over a static threshold, the alarm goes to ALARM on its own, writes AWS's history and
notifies an SNS topic whose SQS subscriber receives AWS's alarm message."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import error_of
from tests.e2e.functions import create_function, unique
from tests.e2e.stacks import settled, stack_events

FAILING = "def handler(event, context):\n    raise RuntimeError('nope')\n"


def subscribed_queue(sqs, sns, topic: str) -> str:
    url = sqs.create_queue(QueueName=unique("alarm-q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
        }],
    }  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return url


def test_errors_alarm_fires_and_notifies_sns(client):
    lam, cw, sns, sqs = (client(s) for s in ("lambda", "cloudwatch", "sns", "sqs"))
    name, alarm = unique("failing"), unique("errors-alarm")
    create_function(lam, name, {"app.py": FAILING})
    topic = sns.create_topic(Name=unique("alarms"))["TopicArn"]
    queue = subscribed_queue(sqs, sns, topic)
    cw.put_metric_alarm(
        AlarmName=alarm, AlarmDescription="too many errors", Namespace="AWS/Lambda",
        MetricName="Errors", Dimensions=[{"Name": "FunctionName", "Value": name}],
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=2,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )  # fmt: skip
    [described] = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert described["StateValue"] == "INSUFFICIENT_DATA"
    assert described["AlarmArn"].endswith(f":alarm:{alarm}")
    for _ in range(3):
        lam.invoke(FunctionName=name, Payload=b"{}")

    deadline = time.monotonic() + 40
    messages: list = []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", [])
    assert messages, "no alarm notification arrived"
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == f'ALARM: "{alarm}" in US East (N. Virginia)'
    note = json.loads(envelope["Message"])
    assert note["AlarmName"] == alarm and note["NewStateValue"] == "ALARM"
    # OK first when an evaluation ran before the errors were counted (notBreaching).
    assert note["OldStateValue"] in ("INSUFFICIENT_DATA", "OK")
    assert note["AWSAccountId"] == "000000000000"
    assert note["Trigger"]["MetricName"] == "Errors"
    assert note["Trigger"]["Dimensions"] == [{"value": name, "name": "FunctionName"}]
    assert note["NewStateReason"].startswith("Threshold Crossed")

    [now] = cw.describe_alarms(AlarmNames=[alarm], StateValue="ALARM")["MetricAlarms"]
    assert json.loads(now["StateReasonData"])["recentDatapoints"] == [3.0]
    history = cw.describe_alarm_history(AlarmName=alarm)["AlarmHistoryItems"]
    kinds = [h["HistoryItemType"] for h in history]
    assert kinds[0] == "StateUpdate" and kinds[-1] == "ConfigurationUpdate"
    assert json.loads(history[0]["HistoryData"])["newState"]["stateValue"] == "ALARM"
    assert cw.describe_alarms_for_metric(
        Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
    )["MetricAlarms"][0]["AlarmName"] == alarm  # fmt: skip

    # SetAlarmState, with actions disabled: the state changes, no notification is sent.
    cw.disable_alarm_actions(AlarmNames=[alarm])
    cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="by hand")
    [manual] = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert manual["StateValue"] == "OK" and manual["ActionsEnabled"] is False
    cw.delete_alarms(AlarmNames=[alarm])
    assert cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []


def test_alarm_errors(client):
    cw = client("cloudwatch")
    base = dict(
        AlarmName=unique("bad"), Namespace="App", MetricName="m", Statistic="Sum", Period=60,
        EvaluationPeriods=2, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    err = error_of(cw.put_metric_alarm, **{**base, "DatapointsToAlarm": 3})
    assert err["Code"] == "ValidationError"
    err = error_of(cw.put_metric_alarm, **{**base, "Period": 61})
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(cw.put_metric_alarm, **{**base, "AlarmActions": ["arn:aws:nope"]})
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(cw.set_alarm_state, AlarmName="none", StateValue="OK", StateReason="x")
    assert err["Code"] == "ResourceNotFound"


def test_alarm_in_a_cloudformation_stack(client):
    cfn, cw = client("cloudformation"), client("cloudwatch")
    stack = unique("alarm-stack")
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Errors": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
                    "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                    "Period": "60", "EvaluationPeriods": 1, "Threshold": "1",
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "AlarmActions": [{"Ref": "Topic"}],
                },
            },
            "Either": {
                "Type": "AWS::CloudWatch::CompositeAlarm",
                "Properties": {
                    "AlarmRule": {"Fn::Sub": "ALARM(${Errors}) OR FALSE"},
                },
            },
        },
        "Outputs": {
            "Composite": {"Value": {"Fn::GetAtt": ["Either", "Arn"]}},
            "Name": {"Value": {"Ref": "Errors"}},
            "Arn": {"Value": {"Fn::GetAtt": ["Errors", "Arn"]}},
        },
    }  # fmt: skip
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    done = settled(cfn, stack)
    assert done["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, stack)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in done["Outputs"]}
    assert outputs["Name"].startswith(f"{stack}-Errors-")
    assert outputs["Arn"].endswith(f":alarm:{outputs['Name']}")
    [alarm] = cw.describe_alarms(AlarmNames=[outputs["Name"]])["MetricAlarms"]
    assert alarm["Period"] == 60 and alarm["Threshold"] == 1.0
    assert alarm["AlarmActions"][0].startswith("arn:aws:sns:")
    composite = outputs["Composite"].rsplit(":", 1)[1]
    [either] = cw.describe_alarms(AlarmNames=[composite], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ]
    assert either["AlarmRule"] == f"ALARM({outputs['Name']}) OR FALSE"
    cfn.delete_stack(StackName=stack)
    deadline = time.monotonic() + 60
    while cw.describe_alarms(AlarmNames=[outputs["Name"]])["MetricAlarms"]:
        assert time.monotonic() < deadline, "the alarm outlived its stack"
        time.sleep(0.2)


def test_metric_math_alarm(client):
    cw = client("cloudwatch")
    ns, alarm = unique("Math"), unique("error-rate")

    def stat(qid, name):
        return {"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": name}, "Period": 60, "Stat": "Sum"}}  # fmt: skip

    cw.put_metric_alarm(
        AlarmName=alarm, EvaluationPeriods=1, Threshold=50,
        ComparisonOperator="GreaterThanThreshold", TreatMissingData="missing",
        Metrics=[stat("e", "Errors"), stat("c", "Calls"),
                 {"Id": "rate", "Expression": "100 * e / c", "Label": "rate"}],
    )  # fmt: skip
    [described] = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert [m["Id"] for m in described["Metrics"]] == ["e", "c", "rate"]
    assert "MetricName" not in described
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": "Errors", "Value": 3.0}, {"MetricName": "Calls", "Value": 4.0}],
    )
    deadline = time.monotonic() + 30
    state = described["StateValue"]
    while state != "ALARM" and time.monotonic() < deadline:
        time.sleep(0.5)
        state = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert state == "ALARM"
    [now] = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert json.loads(now["StateReasonData"])["recentDatapoints"] == [75.0]

    err = error_of(
        cw.put_metric_alarm, AlarmName=unique("x"), EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "a", "Expression": "nothere * 2"}],
    )  # fmt: skip
    assert err["Code"] == "ValidationError"


def test_composite_alarm(client):
    cw = client("cloudwatch")
    ns = unique("Composite")
    first, second, both = unique("first"), unique("second"), unique("both")
    for name, metric in ((first, "A"), (second, "B")):
        cw.put_metric_alarm(
            AlarmName=name, Namespace=ns, MetricName=metric, Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )  # fmt: skip
    arn = cw.describe_alarms(AlarmNames=[second])["MetricAlarms"][0]["AlarmArn"]
    rule = f'ALARM("{first}") AND NOT OK({arn})'
    cw.put_composite_alarm(AlarmName=both, AlarmRule=rule)
    [composite] = cw.describe_alarms(AlarmNames=[both], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ]
    assert composite["AlarmRule"] == rule
    assert cw.describe_alarms(AlarmNames=[both])["MetricAlarms"] == []

    def state():
        found = cw.describe_alarms(AlarmNames=[both], AlarmTypes=["CompositeAlarm"])
        return found["CompositeAlarms"][0]["StateValue"]

    deadline = time.monotonic() + 30
    while state() != "OK" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert state() == "OK"  # neither child in ALARM
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": "A", "Value": 5.0}, {"MetricName": "B", "Value": 5.0}],
    )
    deadline = time.monotonic() + 30
    while state() != "ALARM" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert state() == "ALARM"

    for bad, fragment in (("ALARM(nope-alarm)", "non-existent"), (f"ALARM({first}) AND", "rule")):
        err = error_of(cw.put_composite_alarm, AlarmName=unique("c"), AlarmRule=bad)
        assert err["Code"] == "ValidationError" and fragment in err["Message"], err
