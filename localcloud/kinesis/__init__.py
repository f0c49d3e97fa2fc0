"""Kinesis Data Streams, as their consumers read them (the streams themselves are moto's).

- `consumer`: reading every shard from a checkpoint on disk (`KinesisSource`,
  `CheckpointStore`) and the records read (`SourceRecord`), shared by the Firehose delivery
  workers and the Lambda event source mappings.
"""
