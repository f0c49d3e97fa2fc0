"""Lambda: the project's runtime for the template's functions, and what invokes them.

Modules: `function` (the settings and the worker process), `worker` (inside the process),
`sources` (SQS event sources, schedules), `s3` (bucket notifications), `kinesis` (Kinesis
event source mappings), `resources` (the functions, custom resources and triggers of the
template, and their start-up).

- `LambdaFunctionConfig.from_cfn_properties(logical_id, props, asset_dir)` reads a resolved
  `AWS::Lambda::Function` (Handler, Runtime, Timeout, MemorySize, Environment.Variables,
  FunctionName); the deployer passes the CDK asset folder it resolved.
- `LocalLambda(config, extra_env)` runs the handler in its own long-lived worker process, with
  its own environment and import path; `invoke(event)` (RequestResponse) and
  `invoke_async(event)` (Event, retried twice like Lambda's asynchronous invocation).
- `SqsEventSource` (an event source mapping), `ScheduleSource` (an EventBridge rate schedule)
  and `S3NotificationBridge` (bucket notifications, through SQS because moto delivers those for
  real, handed to the function as S3 would invoke it directly).

Differences from AWS:
- The handler runs on the project's Python (the virtualenv's version), not the template's
  Runtime; layers are not downloaded: the virtualenv's packages (Powertools, boto3) stand in.
- One worker per function: invocations of a function run one at a time (reserved concurrency 1).
  The worker is reused between invocations (warm) and replaced after a timeout or a crash.
- MemorySize is reported (context, environment) but not enforced; there is no X-Ray trace id.
- Credentials and endpoints come from `extra_env` (the local cloud's), not an execution role;
  IAM permissions are not checked.
- The function's stdout/stderr (with START/END/REPORT lines) go to `log_path` or the parent's
  stderr, not CloudWatch Logs.
- Queued Event invocations live in memory and are dropped when the function is closed.
- See `lambda_.sources` and `lambda_.s3` for the event sources' own differences.
"""
