"""The local cloud: the pipeline's AWS services stood in for on one machine (see README).

`python -m localcloud serve|up|down|demo` (`__main__`) runs `cloud.LocalCloud`, which starts the
services of its registry in order. One package per service, each owning its CloudFormation
resource types and its start-up in `resources.py`:

- `core`: what every service shares (the registry, the HTTP server, ports, the account and
  ARNs, Java date patterns, starting and stopping servers);
- `cloudformation`: the template, its intrinsics and the deploy walk;
- `moto`: S3, DynamoDB, Kinesis streams, SQS, SNS, Glue, IAM, Secrets Manager, Logs;
- `kinesis`: the stream consumer Firehose and Lambda share;
- `iot`: IoT Core (broker, certificates, policies, topic rules, data plane);
- `firehose`, `lambda_`, `athena`, `opensearch`: one AWS service each.
"""
