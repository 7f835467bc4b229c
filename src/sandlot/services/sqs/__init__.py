"""Amazon SQS: standard and FIFO queues, messages, dead-letter queues and redrive."""
