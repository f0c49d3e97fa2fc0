"""Kinesis: reading a stream with checkpoints, shared by Firehose and Lambda."""
