"""The AWS APIs moto serves: S3, DynamoDB, Kinesis, SQS, SNS, Glue, IAM, the IoT registry,
Secrets Manager and CloudWatch Logs.

- `server`: the moto server subprocess on a loopback port.
- `serial`: moto's WSGI application behind a lock (one request at a time), what `server` runs.
- `resources`: the CloudFormation types created in moto, and moto's start-up.
"""
