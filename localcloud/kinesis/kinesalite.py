"""The local Kinesis Data Streams: kinesalite (npm, pinned in package.json), a Kinesis server on
LevelDB, as a subprocess on a loopback port with its data under `<state_dir>/kinesis`.

Why not moto's Kinesis: moto keeps a stream in memory and its `PutRecords` slows with the
stream's length (500 records: 65 ms at 1,600 records in the stream, 1,276 ms at 50,800, see
bench/bench_kinesis.py), and a restarted moto has forgotten every record. kinesalite's put and
get cost stays flat, and its streams and records survive a restart and a crash: the records a
broker acknowledged and the rule engine put are still there for the delivery workers.

Clients do not call kinesalite directly: the moto server forwards the Kinesis API to it after
checking IAM (localcloud/kinesis/gateway.py), so one endpoint serves every AWS API.

Differences from AWS (kinesalite 3.3.3):
- No on-demand mode: an ON_DEMAND stream is created with 4 shards (what AWS starts one with) and
  never scales; `StreamModeDetails` is not reported.
- No enhanced fan-out (`RegisterStreamConsumer`, `SubscribeToShard`), no `UpdateShardCount`, no
  server-side encryption (`StartStreamEncryption`), and no `StreamARN` parameter (the gateway
  turns one into `StreamName`).
- Throughput limits per shard (1 MiB/s or 1,000 records/s in, 2 MiB/s out) are not enforced.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from localcloud.core.aws import ACCOUNT_ID, REGION
from localcloud.core.service import ServerProcess

REPOSITORY = Path(__file__).resolve().parents[2]
CLI = REPOSITORY / "node_modules" / "kinesalite" / "cli.js"
# The default shard quota of us-east-1 (the local region), us-west-2 and eu-west-1: 20,000 per
# account ("Quotas and limits", Kinesis Data Streams developer guide); kinesalite refuses a
# CreateStream past it with LimitExceededException, as Kinesis does.
SHARD_LIMIT = 20_000


class KinesaliteServer(ServerProcess):
    """kinesalite on a loopback port; `path` keeps its LevelDB store (None: in memory)."""

    name = "kinesalite"

    def __init__(
        self, port: int | None = None, path: Path | None = None, log_path: Path | None = None
    ) -> None:
        super().__init__(port, log_path)
        self.path = path

    def env(self) -> dict[str, str]:
        return {}  # reached through the moto server's endpoint, which checks IAM first

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCOUNT_ID": ACCOUNT_ID, "AWS_REGION": REGION}

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None or not CLI.exists():
            raise RuntimeError(
                f"kinesalite is not installed ({CLI} missing): run `make setup` (npm ci)"
            )
        command = [node, str(CLI), "--port", str(self.port), "--shardLimit", str(SHARD_LIMIT)]
        command += ["--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0"]
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            command += ["--path", str(self.path)]
        return command
