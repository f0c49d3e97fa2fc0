"""moto in server mode: the AWS APIs the pipeline uses."""
