"""Amazon Data Firehose on one machine: delivery from a Kinesis stream to S3 or OpenSearch.

- `config`: a delivery stream's settings, read from the template.
- `buffer`: the size and interval buffering hints.
- `processing`: the transformation Lambda's event, response and error records.
- `naming`: S3 prefixes, object keys and rotated index names.
- `opensearch`: `_bulk` delivery, retries and failed documents.
- `delivery`: the delivery worker that ties them together.
- `resources`: the delivery stream type and the workers' start-up.
"""
