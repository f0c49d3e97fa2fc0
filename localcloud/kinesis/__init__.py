"""Kinesis Data Streams: kinesalite (on disk), its API on moto's endpoint, and its consumers.

- `kinesalite`: the kinesalite server subprocess, its LevelDB store under `<state_dir>/kinesis`.
- `gateway`: the Kinesis API as the moto server serves it: IAM checked, then forwarded.
- `resources`: `AWS::Kinesis::Stream` (a kept stream is taken over) and kinesalite's start-up.
- `consumer`: reading every shard from its checkpoints (`KinesisSource`, `CheckpointStore`, kept
  in moto's state) and the records read (`SourceRecord`), shared by the Firehose delivery
  workers and the Lambda event source mappings.
"""
