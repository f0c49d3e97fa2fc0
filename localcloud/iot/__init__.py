"""AWS IoT Core on one machine.

- `ca`: the local certificate authority (device and server certificates).
- `broker`: mosquitto with mutual TLS and an ACL.
- `policy`: an IoT policy document as mosquitto ACL lines.
- `rules`: the topic rule engine (MQTT subscriber, actions, error action) and `MqttConnection`.
- `engine_process`: the rule engine in a process of its own, as the local cloud runs it.
- `sql`: the IoT SQL of topic rules and substitution templates (parsed with sqlglot; evaluator).
- `data_plane`: HTTP Publish (`iot-data`), carried to the broker over MQTT.
- `resources`: things, policies and topic rules; the start of the CA, broker, data plane and
  rule engine.
"""
