"""The AWS APIs moto serves: S3, DynamoDB, SQS, SNS, Glue, IAM, the IoT registry, Secrets Manager
and CloudWatch Logs; and the Kinesis API, forwarded to kinesalite (localcloud/kinesis).

- `server`: the moto server subprocess on a loopback port.
- `serial`: moto's WSGI application behind a lock (one request at a time), what `server` runs.
- `authorization`: IAM enforcement for role sessions.
- `state`: the data kept across restarts and crashes (one snapshot file), and the Kinesis
  consumers' checkpoints saved with it.
- `resources`: the CloudFormation types created in moto, moto's start-up and the restore.
"""

STATE_PATH = "/_localcloud/state"
CHECKPOINTS_PATH = "/_localcloud/checkpoints/"
