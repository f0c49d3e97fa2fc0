"""The emulated OpenSearch's bulk indexing, as the search delivery stream uses it: the search
set-up's index template and document id pipeline installed, then `_bulk` requests of reading
documents (index actions into the hourly `sensor-log-*` index) against a store that journals to
disk, as the local cloud's does. No HTTP: the store's own bulk path, what a request costs once
it has arrived.

One line per batch size (documents per `_bulk` request):

    OPENSEARCH_BULK batch=<n> docs=<n> cpu_us_per_doc=<x> docs_per_s=<y>

and one line per stage with its share of the CPU samples of the largest batch (cProfile,
cumulative time of the stage's function):

    OPENSEARCH_STAGE <stage> share=<percent>

BENCH_OPENSEARCH_DOCS (default 20000) documents each.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lambdas" / "search_setup"))

from localcloud.opensearch.bulk import bulk  # noqa: E402
from localcloud.opensearch.store import Store  # noqa: E402
from search_setup.document_id import document_id_pipeline, pipeline_id  # noqa: E402
from search_setup.index_template import index_template  # noqa: E402

DOCS = int(os.environ.get("BENCH_OPENSEARCH_DOCS", "20000"))
INDEX = "sensor-log"
BATCHES = (100, 500)
# Where the store spends a bulk request (cProfile function names, in the order they nest).
STAGES = {
    "parse the request": "_parse",
    "ingest pipeline": "ingest",
    "map the document": "parse",
    "journal to disk": "append",
}


def document(seq: int) -> dict[str, object]:
    """A reading as the search delivery stream's transformation writes it."""
    return {
        "schema": 1,
        "device_id": f"load-{seq % 100:03d}",
        "thing_name": f"load-{seq % 100:03d}",
        "seq": seq,
        "ts": "2026-12-03T04:00:00.000Z",
        "arrival_ms": 1_796_270_400_000 + seq,
        "temperature": 21.5,
        "humidity": 40.1,
        "pressure": 1013.2,
        "cpu_temp": 48.0,
        "temperature_raw": 30.2,
        "pitch": 1.0,
        "roll": 2.0,
        "yaw": 3.0,
    }


def payloads(batch: int) -> list[bytes]:
    action = json.dumps({"index": {"_index": f"{INDEX}-2026-12-03-04"}})
    lines = [f"{action}\n{json.dumps(document(seq))}\n" for seq in range(DOCS)]
    return ["".join(lines[i : i + batch]).encode() for i in range(0, DOCS, batch)]


def fresh_store(directory: Path) -> Store:
    store = Store(data_dir=directory)
    store.put_pipeline(pipeline_id(INDEX), document_id_pipeline())
    store.put_template(INDEX, index_template(INDEX))
    return store


def run(store: Store, requests: list[bytes]) -> None:
    for payload in requests:
        with store.lock:
            response = bulk(store, None, payload)
        if response["errors"]:
            raise SystemExit(f"bulk errors: {response['items'][:1]}")


def main() -> None:
    for batch in BATCHES:
        requests = payloads(batch)
        with tempfile.TemporaryDirectory() as directory:
            store = fresh_store(Path(directory))
            wall, cpu = time.perf_counter(), time.process_time()
            run(store, requests)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            store.close()
        print(
            f"OPENSEARCH_BULK batch={batch} docs={DOCS} "
            f"cpu_us_per_doc={cpu / DOCS * 1e6:.0f} docs_per_s={DOCS / wall:.0f}",
            flush=True,
        )
    with tempfile.TemporaryDirectory() as directory:
        store = fresh_store(Path(directory))
        profile = cProfile.Profile()
        profile.runcall(run, store, payloads(BATCHES[-1]))
        store.close()
    stats = pstats.Stats(profile)
    top = max(row[3] for row in stats.stats.values())  # type: ignore[attr-defined]
    for stage, function in STAGES.items():
        cumulative = sum(
            row[3]
            for (path, _, name), row in stats.stats.items()  # type: ignore[attr-defined]
            if name == function and "opensearch" in path
        )
        print(f"OPENSEARCH_STAGE {stage} share={100 * cumulative / top:.0f}%", flush=True)


if __name__ == "__main__":
    main()
