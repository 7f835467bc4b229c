"""Publish and PublishBatch: validation as AWS does it, FIFO deduplication and
sequence numbers, the signed envelopes each protocol gets, and the fan-out to the
subscriptions whose filter policy matches."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from functools import partial

from sandlot.events.delivery import TRACE_OPTION
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.sns import deliver, filtering
from sandlot.services.sns.base import SnsBase, Subscription, Topic
from sandlot.services.sns.errors import invalid_parameter, invalid_value
from sandlot.services.sns.schema import DEDUP, OUTBOX
from sandlot.services.sns.signing import canonical_string

MAX_MESSAGE_BYTES = 262_144
MAX_ATTRIBUTES = 10
DEDUP_WINDOW_S = 300.0
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
RECORDED = ("email", "email-json", "sms")


def _timestamp(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(at * 1000) % 1000:03d}Z"
    )


def check_attributes(attributes: dict) -> int:
    """Message attributes checked as AWS does; their size in bytes (names, types, values)."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid_value(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
            f"[{MAX_ATTRIBUTES}]."
        )
    size = 0
    for name, value in attributes.items():
        if not _ATTRIBUTE_NAME.match(name) or name.startswith(("AWS.", "Amazon.")) or ".." in name:
            raise invalid_value(f"The message attribute name '{name}' is invalid.")
        kind = value.get("DataType") or ""
        base = kind.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_value(
                f"The message attribute '{name}' has an invalid message attribute type, the set "
                "of supported type prefixes is Binary, Number, and String."
            )
        field = "BinaryValue" if base == "Binary" else "StringValue"
        raw = value.get(field)
        if raw is None or raw == "" or raw == b"":
            raise invalid_value(
                f"The message attribute '{name}' must contain non-empty message attribute value "
                f"for message attribute type '{kind}'."
            )
        if base == "Number":
            try:
                number = float(raw)
            except ValueError:
                number = None
            if number is None or number != number or abs(number) > 1e9 + 1:
                raise invalid_value(
                    f"Could not cast message attribute '{name}' value to number."
                    if number is None
                    else f"Value {raw} for parameter MessageAttributes is invalid. Reason: "
                    "Number values must be between -1.0E9 and 1.0E9."
                )
        if kind == "String.Array":
            try:
                items = json.loads(raw)
            except ValueError:
                items = None
            if not isinstance(items, list) or any(isinstance(i, (dict, list)) for i in items):
                raise invalid_parameter(
                    f"The message attribute '{name}' with type 'String.Array' has an invalid "
                    "value. Value must be a JSON array of strings, numbers, booleans or null."
                )
        size += len(name.encode()) + len(kind.encode())
        size += len(raw) if isinstance(raw, bytes) else len(raw.encode())
    return size


def envelope_text(envelope: dict) -> str:
    """The envelope as AWS writes it: one ``"Key" : value`` per line, two-space
    indent, each message attribute on a line of its own (built from C-encoded
    ``json.dumps`` pieces: ``indent=`` would take the slow pure-Python encoder)."""
    lines = []
    for key, value in envelope.items():
        if isinstance(value, dict):
            inner = ",\n".join(
                f"    {json.dumps(k, ensure_ascii=False)} : "
                f"{json.dumps(v, separators=(',', ':'), ensure_ascii=False)}"
                for k, v in value.items()
            )
            text = "{\n" + inner + "\n  }"
        else:
            text = json.dumps(value, ensure_ascii=False)
        lines.append(f"  {json.dumps(key)} : {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"  # AWS ends the body with a newline


def _envelope_attributes(attributes: dict) -> dict:
    """Message attributes as the JSON envelope spells them (``Type``/``Value``)."""
    out = {}
    for name, value in attributes.items():
        if value["DataType"].startswith("Binary"):
            raw = value["BinaryValue"]
            raw = raw if isinstance(raw, bytes) else raw.encode()
            out[name] = {"Type": "Binary", "Value": base64.b64encode(raw).decode()}
        else:
            out[name] = {"Type": value["DataType"], "Value": value["StringValue"]}
    return out


class Message:
    """One published message, with what every subscription's payload is built from."""

    def __init__(self, topic: Topic, entry: dict, message_id: str, at: float) -> None:
        self.topic = topic
        self.id = message_id
        self.timestamp = _timestamp(at)
        self.subject = entry.get("Subject")
        self.attributes = entry.get("MessageAttributes") or {}
        self.structured = (
            json.loads(entry["Message"]) if entry.get("MessageStructure") == "json" else None
        )
        self.text = entry["Message"]
        self.group_id = entry.get("MessageGroupId")
        self.dedup_id: str | None = None
        self.sequence: str | None = None
        # The publisher's X-Ray header: the deliveries continue its chain of requests
        # (Lambda's recursive loop detection, events/lineage.py).
        self.trace: str | None = None
        # Signatures by (signed text, version): what is signed names no subscription,
        # so the subscribers of one protocol share one RSA signature.
        self.signatures: dict[tuple[bytes, str], str] = {}

    def for_protocol(self, protocol: str) -> str:
        """The message text a protocol gets (MessageStructure json: its own, else default)."""
        if self.structured is None:
            return self.text
        return self.structured.get(protocol, self.structured["default"])


class PublishOperations(SnsBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._seq = int(time.time() * 1e6)
        deliver.register(platform.deliveries, platform.settings.retry_timing)

    # -- the operations ---------------------------------------------------------------------

    def publish(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("PhoneNumber") and not (params.get("TopicArn") or params.get("TargetArn")):
            return self._publish_sms(params)
        arn = params.get("TopicArn") or params.get("TargetArn")
        if not arn:
            raise invalid_parameter("TopicArn or TargetArn Reason: no value for required parameter")
        topic = self.topic(ctx, arn, "TopicArn" if params.get("TopicArn") else "TargetArn")
        self._check_entry(topic, params, "")
        message = Message(topic, params, str(uuid.uuid4()), self.now())
        message.trace = ctx.trace()
        duplicate = self._commit(topic, message, params)
        self._published(topic, params)
        out = {"MessageId": (duplicate or message).id}
        if topic.fifo:
            out["SequenceNumber"] = (duplicate or message).sequence
        return out

    def publish_batch(self, ctx: RequestContext, params: dict) -> dict:
        topic = self.topic(ctx, params.get("TopicArn"))
        entries = params.get("PublishBatchRequestEntries") or []
        if not entries:
            raise ServiceError("EmptyBatchRequest", "The batch request doesn't contain any entries")
        if len(entries) > 10:
            raise ServiceError(
                "TooManyEntriesInBatchRequest",
                "The batch request contains more entries than permissible.",
            )
        ids = [e.get("Id", "") for e in entries]
        if len(set(ids)) != len(ids):
            raise ServiceError(
                "BatchEntryIdsNotDistinct",
                "Two or more batch entries in the request have the same Id.",
            )
        for entry_id in ids:
            if not _BATCH_ID.match(entry_id):
                raise ServiceError(
                    "InvalidBatchEntryId",
                    "A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long.",
                )
        total = sum(len(e.get("Message", "").encode()) + self._attribute_size(e) for e in entries)
        if total > MAX_MESSAGE_BYTES:
            raise ServiceError(
                "BatchRequestTooLong",
                "The length of all the messages put together is more than the limit.",
            )
        if topic.fifo:  # AWS checks a FIFO batch as a whole: every entry needs a group
            for entry in entries:
                if not entry.get("MessageGroupId"):
                    raise invalid_parameter(
                        "The MessageGroupId parameter is required for FIFO topics"
                    )
        successful, failed = [], []
        for entry in entries:
            try:
                self._check_entry(topic, entry, "")
            except ServiceError as error:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": error.code,
                        "Message": error.message,
                        "SenderFault": True,
                    }
                )
                continue
            message = Message(topic, entry, str(uuid.uuid4()), self.now())
            message.trace = ctx.trace()
            duplicate = self._commit(topic, message, entry)
            self._published(topic, entry)
            done = {"Id": entry["Id"], "MessageId": (duplicate or message).id}
            if topic.fifo:
                done["SequenceNumber"] = (duplicate or message).sequence
            successful.append(done)
        return {"Successful": successful, "Failed": failed}

    def _published(self, topic, params: dict) -> None:
        """AWS/SNS's NumberOfMessagesPublished and PublishSize, by TopicName (buffered:
        sandlot/metrics.py)."""
        _, _, _, region, account, name = topic.arn.split(":", 5)
        dims = (("TopicName", name),)
        size = len((params.get("Message") or "").encode())
        emit = self.platform.metrics.emit
        emit(account, region, "AWS/SNS", "NumberOfMessagesPublished", dims, 1, "Count")
        emit(account, region, "AWS/SNS", "PublishSize", dims, size, "Bytes")

    # -- validation -----------------------------------------------------------------------------

    @staticmethod
    def _attribute_size(entry: dict) -> int:
        try:
            return check_attributes(entry.get("MessageAttributes") or {})
        except ServiceError:
            return 0  # reported on the entry itself

    def _check_entry(self, topic: Topic, entry: dict, prefix: str) -> None:
        text = entry.get("Message")
        if text is None or text == "":
            raise invalid_parameter("Empty message")
        size = len(text.encode()) + check_attributes(entry.get("MessageAttributes") or {})
        if size > MAX_MESSAGE_BYTES:
            raise invalid_parameter("Message too long")
        subject = entry.get("Subject")
        if subject is not None and (
            subject == "" or len(subject) > 100 or any(not (32 <= ord(c) < 127) for c in subject)
        ):
            raise invalid_parameter("Subject")
        structure = entry.get("MessageStructure")
        if structure is not None:
            if structure != "json":
                raise invalid_parameter("MessageStructure")
            try:
                parsed = json.loads(text)
            except ValueError:
                raise invalid_parameter(
                    "Message Structure - JSON message body failed to parse"
                ) from None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("default"), str):
                raise invalid_parameter("Message Structure - No default entry in JSON message body")
        if topic.fifo:
            if not entry.get("MessageGroupId"):
                raise invalid_parameter("The MessageGroupId parameter is required for FIFO topics")
            if (
                not entry.get("MessageDeduplicationId")
                and topic.attributes.get("ContentBasedDeduplication") != "true"
            ):
                raise invalid_parameter(
                    "The topic should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
        elif entry.get("MessageDeduplicationId"):
            raise invalid_parameter(
                "MessageDeduplicationId Reason: The request includes MessageDeduplicationId "
                "parameter that is not valid for this topic type"
            )

    def _commit(self, topic: Topic, message: Message, entry: dict) -> Message | None:
        """Deduplicate (FIFO), then write the deduplication entry and stage every
        delivery in one short transaction (an acknowledged message has its deliveries
        staged); the payloads are built before it, so it holds the store briefly.
        Returns the earlier message when this one is a duplicate. (No await here: no
        other request runs between the check and the write.)"""
        duplicate, remember = self._deduplicate(topic, message, entry)
        plans = self._fan_out(message) if duplicate is None else []
        with self.store.transaction():
            if remember is not None:
                self.store.put(DEDUP, remember)
            for plan in plans:
                plan()
        return duplicate

    # -- FIFO ---------------------------------------------------------------------------------

    def _deduplicate(
        self, topic: Topic, message: Message, entry: dict
    ) -> tuple[Message | None, dict | None]:
        """FIFO: number the message; (the earlier message with its deduplication id
        within five minutes, None) if there is one (then nothing is delivered), else
        (None, the deduplication row to write)."""
        if not topic.fifo:
            return None, None
        now = self.now()
        key = (
            entry.get("MessageDeduplicationId")
            or hashlib.sha256(entry["Message"].encode()).hexdigest()
        )
        message.dedup_id = key
        scope_key = key
        if topic.attributes.get("FifoThroughputScope") == "MessageGroup":
            scope_key = f"{message.group_id}\x00{key}"
        seen = self.store.get(DEDUP, topic.arn, scope_key)
        if seen is not None and seen["expires"] > now:
            earlier = Message(topic, entry, seen["message_id"], now)
            earlier.sequence = seen["sequence"]
            return earlier, None
        self._seq = max(self._seq + 1, int(now * 1e6))
        message.sequence = f"{self._seq:020d}"
        return None, {
            "topic": topic.arn,
            "key": scope_key,
            "message_id": message.id,
            "sequence": message.sequence,
            "expires": now + DEDUP_WINDOW_S,
        }

    # -- fan-out ---------------------------------------------------------------------------------

    def _fan_out(self, message: Message) -> list[Callable[[], object]]:
        """What to stage (or record) for each confirmed subscription whose filter
        policy matches, payloads built: run each inside the publish's transaction."""
        plans: list[Callable[[], object]] = []
        for sub in self.subscriptions_of(message.topic.arn):
            if sub.pending:
                continue
            if not filtering.matches(sub, message.for_protocol(sub.protocol), message.attributes):
                continue
            plans.append(self._plan(message, sub))
        return plans

    def _plan(self, message: Message, sub: Subscription) -> Callable[[], object]:
        topic, protocol = message.topic, sub.protocol
        factor = deliver.scale(self.platform.settings.retry_timing)
        staged = {
            "principal": deliver.principal(topic.account),
            "context": {"aws:SourceArn": topic.arn, "aws:SourceAccount": topic.account},
            "delivery_id": f"{message.id}.{sub.arn.rsplit(':', 1)[-1]}",
        }
        queue = deliver.redrive_target(sub.attributes)
        if queue is not None:
            options = {}
            if queue.endswith(".fifo"):
                options = {
                    "MessageGroupId": message.group_id or "default",
                    "MessageDeduplicationId": message.dedup_id or message.id,
                }
            staged["on_failure"] = deliver.DEAD_LETTER_HOOK
            staged["hook_data"] = {
                "subscription": sub.arn,
                "queue": queue,
                "body": envelope_text(self.envelope(message, sub)),
                "options": options,
            }
        stage = self.platform.deliveries.stage
        traced = {TRACE_OPTION: message.trace} if message.trace else {}
        if protocol == "sqs":
            body, options = self._sqs_message(message, sub)
            options.update(traced)
            return partial(
                stage,
                sub.endpoint,
                body,
                options=options,
                policy=deliver.managed_policy(factor),
                **staged,
            )
        if protocol == "lambda":
            event = json.dumps(self.lambda_event(message, sub))
            return partial(
                stage,
                sub.endpoint,
                event,
                options={"InvocationType": "Event", **traced},
                policy=deliver.managed_policy(factor),
                **staged,
            )
        if protocol in ("http", "https"):
            policy = self.effective_delivery_policy(sub)
            raw = sub.raw
            body = (
                message.for_protocol(protocol)
                if raw
                else envelope_text(self.envelope(message, sub))
            )
            headers = {
                "Content-Type": policy["requestPolicy"]["headerContentType"],
                "x-amz-sns-message-type": "Notification",
                "x-amz-sns-message-id": message.id,
                "x-amz-sns-topic-arn": topic.arn,
                "x-amz-sns-subscription-arn": sub.arn,
                "User-Agent": "Amazon Simple Notification Service Agent",
            }
            if raw:
                headers["x-amz-sns-rawdelivery"] = "true"
            return partial(
                stage,
                sub.endpoint,
                body,
                region=topic.region,
                options=deliver.http_options(headers),
                policy=deliver.http_policy(policy["healthyRetryPolicy"], factor),
                **staged,
            )
        # email, email-json, sms: recorded (Subscribe accepts no other protocol).
        return partial(
            self.record, sub, "Notification", self._recorded(message, sub), message.subject
        )

    # -- payloads -----------------------------------------------------------------------------

    def _sqs_message(self, message: Message, sub: Subscription) -> tuple[str, dict]:
        """The SQS message body and SendMessage options of a delivery to ``sub``."""
        options: dict = {}
        if sub.raw:
            body = message.for_protocol("sqs")
            if message.attributes:
                options["MessageAttributes"] = deliver.sqs_attributes(message.attributes)
        else:
            body = envelope_text(self.envelope(message, sub))
        if sub.endpoint.endswith(".fifo"):
            options["MessageGroupId"] = message.group_id
            options["MessageDeduplicationId"] = message.dedup_id
        return body, options

    def envelope(self, message: Message, sub: Subscription) -> dict:
        """The signed JSON envelope SQS and HTTP/S subscribers get (``…URL`` spelling)."""
        envelope = {"Type": "Notification", "MessageId": message.id}
        if message.sequence is not None:
            envelope["SequenceNumber"] = message.sequence
        envelope["TopicArn"] = message.topic.arn
        if message.subject is not None:
            envelope["Subject"] = message.subject
        envelope["Message"] = message.for_protocol(sub.protocol)
        envelope["Timestamp"] = message.timestamp
        if message.topic.fifo:
            envelope["UnsubscribeURL"] = self.unsubscribe_url(sub.arn)
        else:
            version = message.topic.attributes.get("SignatureVersion") or "1"
            envelope["SignatureVersion"] = version
            envelope["Signature"] = self._signature(message, envelope, version)
            envelope["SigningCertURL"] = self.signing_cert_url()
            envelope["UnsubscribeURL"] = self.unsubscribe_url(sub.arn)
        if message.attributes:
            envelope["MessageAttributes"] = _envelope_attributes(message.attributes)
        return envelope

    def _signature(self, message: Message, envelope: dict, version: str) -> str:
        key = (canonical_string(envelope), version)
        if key not in message.signatures:
            message.signatures[key] = self.signer.sign(envelope, version)
        return message.signatures[key]

    def lambda_event(self, message: Message, sub: Subscription) -> dict:
        """AWS's event for a Lambda subscriber (``SigningCertUrl``/``UnsubscribeUrl``)."""
        version = message.topic.attributes.get("SignatureVersion") or "1"
        sns = {
            "Type": "Notification",
            "MessageId": message.id,
            "TopicArn": message.topic.arn,
            "Subject": message.subject,
            "Message": message.for_protocol("lambda"),
            "Timestamp": message.timestamp,
        }
        signed = {k: v for k, v in sns.items() if v is not None}
        sns["SignatureVersion"] = version
        sns["Signature"] = self._signature(message, signed, version)
        sns["SigningCertUrl"] = self.signing_cert_url()
        sns["UnsubscribeUrl"] = self.unsubscribe_url(sub.arn)
        sns["MessageAttributes"] = _envelope_attributes(message.attributes)
        return {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": sub.arn,
                    "Sns": sns,
                }
            ]
        }

    def _recorded(self, message: Message, sub: Subscription) -> str:
        if sub.protocol == "email-json":
            return envelope_text(self.envelope(message, sub))
        return message.for_protocol(sub.protocol)

    def _publish_sms(self, params: dict) -> dict:
        text = params.get("Message")
        if not text:
            raise invalid_parameter("Empty message")
        number = params["PhoneNumber"]
        if not re.match(r"^\+?[0-9]{5,15}$", number):
            raise invalid_parameter("PhoneNumber Reason: input incorrectly formatted")
        message_id = str(uuid.uuid4())
        self._record_row(None, None, "sms", number, "Notification", text, None)
        return {"MessageId": message_id}

    # -- the confirmation handshake ------------------------------------------------------------

    def send_confirmation(
        self, topic: Topic, sub: Subscription, kind: str = "SubscriptionConfirmation"
    ) -> None:
        """AWS's SubscriptionConfirmation (or, on Unsubscribe, UnsubscribeConfirmation):
        POSTed to an HTTP/S endpoint (retried by its delivery policy), recorded for
        email; the SubscribeURL (a GET on sandlot) or ConfirmSubscription with the Token
        confirms (or restores) the subscription."""
        token = sub.row["token"]
        url = self.subscribe_url(topic.arn, token)
        factor = deliver.scale(self.platform.settings.retry_timing)
        if kind == "SubscriptionConfirmation":
            text = (
                f"You have chosen to subscribe to the topic {topic.arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            )
        else:
            text = (
                f"You have chosen to deactivate subscription {sub.arn}.\nTo cancel this "
                "operation and restore the subscription, visit the SubscribeURL included in "
                "this message."
            )
        envelope = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic.arn,
            "Message": text,
            "SubscribeURL": url,
            "Timestamp": _timestamp(self.now()),
        }
        version = topic.attributes.get("SignatureVersion") or "1"
        envelope["SignatureVersion"] = version
        envelope["Signature"] = self.signer.sign(envelope, version)
        envelope["SigningCertURL"] = self.signing_cert_url()
        if sub.protocol in ("email", "email-json"):
            text = (
                envelope_text(envelope)
                if sub.protocol == "email-json"
                else (
                    f"You have chosen to subscribe to the topic:\n{topic.arn}\n\n"
                    f"To confirm this subscription, click or visit the link below:\n{url}\n"
                )
            )
            self.record(
                sub,
                "SubscriptionConfirmation",
                text,
                "AWS Notification - Subscription Confirmation",
            )
            return
        policy = self.effective_delivery_policy(sub)
        body = envelope_text(envelope)
        headers = {
            "Content-Type": policy["requestPolicy"]["headerContentType"],
            "x-amz-sns-message-type": kind,
            "x-amz-sns-message-id": envelope["MessageId"],
            "x-amz-sns-topic-arn": topic.arn,
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        if kind == "UnsubscribeConfirmation":
            headers["x-amz-sns-subscription-arn"] = sub.arn
        self.platform.deliveries.stage(
            sub.endpoint,
            body,
            region=topic.region,
            principal=deliver.principal(topic.account),
            options=deliver.http_options(headers),
            policy=deliver.http_policy(policy["healthyRetryPolicy"], factor),
        )

    # -- the outbox of email/email-json/SMS ---------------------------------------------------

    def record(self, sub: Subscription, kind: str, text: str, subject: str | None) -> None:
        self._record_row(sub.arn, sub.row["topic"], sub.protocol, sub.endpoint, kind, text, subject)

    def _record_row(self, sub, topic, protocol, endpoint, kind, text, subject) -> None:
        self._seq = max(self._seq + 1, int(time.time() * 1e6))
        self.store.put(
            OUTBOX,
            {
                "seq": self._seq,
                "subscription": sub,
                "topic": topic,
                "protocol": protocol,
                "endpoint": endpoint,
                "kind": kind,
                "message": text,
                "subject": subject,
                "time": time.time(),
            },
        )

    def recorded_messages(self, endpoint: str | None = None) -> list[dict]:
        """What was 'sent' to email, email-json and SMS endpoints, oldest first."""
        where = {"endpoint": endpoint} if endpoint else {}
        return self.store.select(OUTBOX, where, order_by=("seq",), limit=1000)
