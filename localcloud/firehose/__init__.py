"""Amazon Data Firehose on one machine."""
