"""Wire facts that botocore's service models do not carry.

Everything else the serializer does comes from the models; each entry here says where
the fact comes from and why the model cannot express it.
"""

from __future__ import annotations

# SQS moved from the query protocol to JSON while keeping its legacy error codes in the
# ``x-amzn-query-error`` header (``AWS.SimpleQueueService.NonExistentQueue;Sender``, see
# "Interpreting Amazon SQS JSON API responses" in the SQS developer guide). Its model has
# no ``error.code`` traits (botocore maps exception classes from the shape name instead),
# so the legacy codes, as AWS documents them per error, are listed here by shape name.
LEGACY_QUERY_CODES: dict[str, dict[str, str]] = {
    "sqs": {
        "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
        "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
        "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
        "KmsAccessDenied": "KMS.AccessDeniedException",
        "KmsDisabled": "KMS.DisabledException",
        "KmsInvalidKeyUsage": "KMS.InvalidKeyUsageException",
        "KmsInvalidState": "KMS.InvalidStateException",
        "KmsNotFound": "KMS.NotFoundException",
        "KmsOptInRequired": "KMS.OptInRequired",
        "KmsThrottled": "KMS.ThrottlingException",
        "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
        "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
        "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
        "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
        "QueueNameExists": "QueueAlreadyExists",
        "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
        # The other SQS errors use their shape name as the legacy code too.
    },
}

# S3's GetBucketLocation answers with the bare ``<LocationConstraint>region</...>``
# element; botocore's model cannot say so and its client reads the root element's text
# (handler ``parse_get_bucket_location``). Keyed by (service, operation): the output
# member written as the document's root element.
BARE_ROOT_MEMBER: dict[tuple[str, str], str] = {
    ("s3", "GetBucketLocation"): "LocationConstraint",
}

# Services answering with S3's request-id headers (``x-amz-request-id``, ``x-amz-id-2``)
# instead of ``x-amzn-RequestId``.
S3_REQUEST_ID_HEADERS: frozenset[str] = frozenset({"s3", "s3control"})

# Services whose error document is S3's unwrapped ``<Error>`` rather than the
# ``<ErrorResponse><Error>`` that other rest-xml services (Route 53, CloudFront) send.
S3_ERROR_DOCUMENT: frozenset[str] = frozenset({"s3"})

# The root element of S3's response documents. botocore's models name output shapes
# ``ListObjectsV2Output`` and so on and drop the element name S3 sends (its clients
# ignore the root's name), so other SDKs and tools that check it need this table. From
# the "Response Syntax" of each operation in the Amazon S3 API Reference; keyed by
# (service, operation); operations whose output is a modelled payload structure already
# carry the right name. tests/unit/test_s3_wire_xml.py keeps it in step with the model.
ROOT_ELEMENTS: dict[tuple[str, str], str] = {
    ("s3", "CompleteMultipartUpload"): "CompleteMultipartUploadResult",
    ("s3", "CreateMultipartUpload"): "InitiateMultipartUploadResult",
    ("s3", "CreateSession"): "CreateSessionResult",
    ("s3", "DeleteObjects"): "DeleteResult",
    ("s3", "GetBucketAccelerateConfiguration"): "AccelerateConfiguration",
    ("s3", "GetBucketAcl"): "AccessControlPolicy",
    ("s3", "GetBucketCors"): "CORSConfiguration",
    ("s3", "GetBucketLifecycle"): "LifecycleConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "LifecycleConfiguration",
    ("s3", "GetBucketLogging"): "BucketLoggingStatus",
    ("s3", "GetBucketNotification"): "NotificationConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "NotificationConfiguration",
    ("s3", "GetBucketRequestPayment"): "RequestPaymentConfiguration",
    ("s3", "GetBucketTagging"): "Tagging",
    ("s3", "GetBucketVersioning"): "VersioningConfiguration",
    ("s3", "GetBucketWebsite"): "WebsiteConfiguration",
    ("s3", "GetObjectAcl"): "AccessControlPolicy",
    ("s3", "GetObjectAttributes"): "GetObjectAttributesResponse",
    ("s3", "GetObjectTagging"): "Tagging",
    ("s3", "ListBucketAnalyticsConfigurations"): "ListBucketAnalyticsConfigurationResult",
    (
        "s3",
        "ListBucketIntelligentTieringConfigurations",
    ): "ListBucketIntelligentTieringConfigurationsOutput",
    ("s3", "ListBucketInventoryConfigurations"): "ListInventoryConfigurationsResult",
    ("s3", "ListBucketMetricsConfigurations"): "ListMetricsConfigurationsResult",
    ("s3", "ListBuckets"): "ListAllMyBucketsResult",
    ("s3", "ListDirectoryBuckets"): "ListAllMyDirectoryBucketsResult",
    ("s3", "ListMultipartUploads"): "ListMultipartUploadsResult",
    ("s3", "ListObjectVersions"): "ListVersionsResult",
    ("s3", "ListObjects"): "ListBucketResult",
    ("s3", "ListObjectsV2"): "ListBucketResult",
    ("s3", "ListParts"): "ListPartsResult",
}

# SQS's query protocol (what SDKs released before its move to JSON in late 2023 still
# send) names flattened lists and maps after their items, as its query-era model said
# (``Attribute.1.Name``, ``MessageAttribute.1.Value.StringValue``,
# ``SendMessageBatchRequestEntry.1.Id``, ``<Message>``…); the JSON model dropped those
# ``locationName`` traits. ``protocol.models.query_view`` puts them back.
QUERY_NAMES: dict[str, dict[str, dict]] = {
    "sqs": {
        # list shape → its items' name
        "items": {
            "AWSAccountIdList": "AWSAccountId",
            "ActionNameList": "ActionName",
            "AttributeNameList": "AttributeName",
            "BatchResultErrorEntryList": "BatchResultErrorEntry",
            "BinaryList": "BinaryListValue",
            "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
            "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
            "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
            "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
            "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
            "MessageAttributeNameList": "MessageAttributeName",
            "MessageList": "Message",
            "MessageSystemAttributeList": "MessageSystemAttributeName",
            "QueueUrlList": "QueueUrl",
            "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
            "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry",
            "StringList": "StringListValue",
            "TagKeyList": "TagKey",
        },
        # map shape → (key name, value name)
        "entries": {
            "MessageBodyAttributeMap": ("Name", "Value"),
            "MessageBodySystemAttributeMap": ("Name", "Value"),
            "MessageSystemAttributeMap": ("Name", "Value"),
            "QueueAttributeMap": ("Name", "Value"),
            "TagMap": ("Key", "Value"),
        },
        # structure member whose shape is a flattened map → the entries' name
        "members": {
            ("CreateQueueRequest", "Attributes"): "Attribute",
            ("CreateQueueRequest", "tags"): "Tag",
            ("SetQueueAttributesRequest", "Attributes"): "Attribute",
            ("GetQueueAttributesResult", "Attributes"): "Attribute",
            ("Message", "Attributes"): "Attribute",
            ("Message", "MessageAttributes"): "MessageAttribute",
            ("SendMessageRequest", "MessageAttributes"): "MessageAttribute",
            ("SendMessageRequest", "MessageSystemAttributes"): "MessageSystemAttribute",
            ("SendMessageBatchRequestEntry", "MessageAttributes"): "MessageAttribute",
            ("SendMessageBatchRequestEntry", "MessageSystemAttributes"): "MessageSystemAttribute",
            ("TagQueueRequest", "Tags"): "Tag",
            ("ListQueueTagsResult", "Tags"): "Tag",
        },
        "namespace": "http://queue.amazonaws.com/doc/2012-11-05/",
        # The AWS SDK for Java 1.x posts to the queue URL and leaves the parameter out.
        "path_member": "QueueUrl",
    },
}
