"""What the compactor's integration tests share besides fixtures: the results bucket's name, the
state table's creation and a test clock (importable by name: `conftest` is not unique)."""

from datetime import UTC, datetime, timedelta

RESULTS_BUCKET = "query-results"


def create_state_table(client, name):
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


class TestTime:
    """The wall clock and Lambda's remaining time of one invocation; sleeping advances both."""

    __test__ = False

    def __init__(self, now=datetime(2026, 11, 22, 12, 0, tzinfo=UTC), remaining_ms=300_000):
        self.now = now
        self.remaining = remaining_ms
        self.sleeps = []

    def clock(self):
        return self.now

    def remaining_ms(self):
        return int(self.remaining)

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)
        self.remaining -= seconds * 1000

    def new_invocation(self, remaining_ms=300_000, later_s=0):
        self.now += timedelta(seconds=later_s)
        self.remaining = remaining_ms
