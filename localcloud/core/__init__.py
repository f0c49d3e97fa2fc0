"""What every service of the local cloud shares.

- `registry`: `CloudService` (a service's resource types, start and stop), the `CloudContext`
  the services share while they start, and `ServerService` for a service that is one server.
- `service`: `Service` (start, stop, context manager) for the servers; running one as a
  standalone command; stopping a server subprocess; a poller's thread.
- `http`: the one HTTP server (werkzeug) of Athena, OpenSearch and the IoT data plane.
- `ports`: free loopback ports, waiting for one to listen.
- `aws`: region, account id, credentials and ARNs of the local account.
- `java_time`: Java date-time patterns, for every service that takes them.
"""
