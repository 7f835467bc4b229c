"""Amazon CloudWatch Logs: log groups, streams, events, filter patterns and retention."""
