"""The state of the emulated OpenSearch cluster: indices, documents, templates, ingest pipelines
and plugin objects.

One `Store` holds everything in memory behind one lock; with a data directory it is also kept
on disk through `opensearch.journal` and read back on start. Documents are searchable as soon as
they are written (OpenSearch makes them visible at the next refresh, by default within 1 s).
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.opensearch.dates import now_millis
from localcloud.opensearch.errors import (
    OpenSearchError,
    bad_request,
    index_not_found,
    not_supported,
)
from localcloud.opensearch.ingest import (
    NO_PIPELINE,
    IngestDocument,
    check_pipeline,
    matching,
    pipeline_missing,
    run_pipeline,
)
from localcloud.opensearch.journal import Journal
from localcloud.opensearch.mapping import Mapping, check_mappings
from localcloud.opensearch.names import check_index_name, patterns_overlap, wildcard_match
from localcloud.opensearch.plugins import (
    IndexFacts,
    advance,
    check_policy,
    check_role,
    check_role_mapping,
    policy_for_index,
)

PRIMARY_TERM = 1
MAX_ID_BYTES = 512
EMULATED_VERSION_CREATED = "136387927"  # OpenSearch 2.19.0's internal version id
_TEMPLATE_KEYS = {"index_patterns", "template", "priority", "version", "_meta", "composed_of"}


@dataclass
class Document:
    id: str
    source: dict[str, Any]
    version: int
    seq_no: int
    fields: dict[str, list[Any]]
    size: int

    def record(self) -> dict[str, Any]:
        return {
            "op": "index",
            "_id": self.id,
            "_version": self.version,
            "_seq_no": self.seq_no,
            "_source": self.source,
        }


@dataclass
class Index:
    name: str
    uuid: str
    created_ms: int
    settings: dict[str, Any]
    mapping: Mapping
    docs: dict[str, Document] = field(default_factory=dict)
    next_seq_no: int = 0
    ism: dict[str, Any] | None = None

    @property
    def shards(self) -> int:
        return int(self.settings.get("index.number_of_shards", 1))

    @property
    def replicas(self) -> int:
        return int(self.settings.get("index.number_of_replicas", 1))

    @property
    def size_bytes(self) -> int:
        return sum(doc.size for doc in self.docs.values())

    def meta(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "created_ms": self.created_ms,
            "settings": self.settings,
            "mappings": self.mapping.body,
            "next_seq_no": self.next_seq_no,
            "ism": self.ism,
        }

    def settings_json(self) -> dict[str, Any]:
        """Settings nested the way `GET <index>/_settings` shows them."""
        nested: dict[str, Any] = {}
        for key, value in sorted(self.settings.items()):
            target = nested
            parts = key.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        return nested

    def shards_header(self) -> dict[str, int]:
        return {"total": 1 + self.replicas, "successful": 1, "failed": 0}


def flatten_settings(body: Any) -> dict[str, Any]:
    """`{"index": {"number_of_shards": 1}}` / `{"number_of_shards": 1}` as `index.*` -> string."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad_request("settings must be an object", "settings_exception")
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, f"{path}.")
            else:
                flat[path if path.startswith("index.") else f"index.{path}"] = (
                    [str(v) for v in value] if isinstance(value, list) else _setting_text(value)
                )

    walk(body, "")
    for key in ("index.number_of_shards", "index.number_of_replicas"):
        if key in flat and not str(flat[key]).isdigit():
            raise bad_request(f"Failed to parse value [{flat[key]}] for setting [{key}]")
    if flat.get("index.number_of_shards") == "0":
        raise bad_request(
            "Failed to parse value [0] for setting [index.number_of_shards] must be >= 1"
        )
    return flat


def new_document_id() -> str:
    """A 20-character URL-safe id, like OpenSearch's auto-generated ids."""
    return secrets.token_urlsafe(15)


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Store:
    """Indices, documents, index templates, ISM policies and roles mappings of one cluster."""

    def __init__(self, data_dir: Path | None = None, clock: Callable[[], int] = now_millis) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.indices: dict[str, Index] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.ism_policies: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, dict[str, Any]] = {}
        self.roles_mapping: dict[str, dict[str, Any]] = {}
        self.saved_objects: dict[str, dict[str, Any]] = {}  # Dashboards objects by "type:id"
        self.pipelines: dict[str, dict[str, Any]] = {}  # ingest pipelines by id
        self.cluster_uuid = uuid.uuid4().hex[:22]
        self._cluster_seq_no = 0
        self.journal = Journal(data_dir) if data_dir is not None else None
        if self.journal is not None:
            self._load(self.journal)

    # ------------------------------------------------------------ persistence

    def _load(self, journal: Journal) -> None:
        state = journal.load_cluster()
        self.templates = state.get("templates", {})
        self.ism_policies = state.get("ism_policies", {})
        self.roles = state.get("roles", {})
        self.roles_mapping = state.get("roles_mapping", {})
        self.saved_objects = state.get("saved_objects", {})
        self.pipelines = state.get("ingest_pipelines", {})
        self.cluster_uuid = state.get("cluster_uuid", self.cluster_uuid)
        self._cluster_seq_no = state.get("seq_no", 0)
        for snapshot in journal.load_indices():
            meta = snapshot.meta
            index = Index(
                name=snapshot.name,
                uuid=meta["uuid"],
                created_ms=meta["created_ms"],
                settings=meta["settings"],
                mapping=Mapping(meta["mappings"]),
                next_seq_no=snapshot.next_seq_no,
                ism=meta.get("ism"),
            )
            for record in snapshot.documents:
                parsed = index.mapping.parse(record["_source"], record["_id"])
                index.docs[record["_id"]] = Document(
                    id=record["_id"],
                    source=record["_source"],
                    version=record["_version"],
                    seq_no=record["_seq_no"],
                    fields=self._with_meta(parsed.fields, index.name, record["_id"]),
                    size=len(json.dumps(record["_source"])),
                )
            self.indices[index.name] = index
            journal.rewrite(index.name, index.meta(), (d.record() for d in index.docs.values()))
        self.save_cluster()

    def save_cluster(self) -> None:
        if self.journal is not None:
            self.journal.write_cluster(
                {
                    "cluster_uuid": self.cluster_uuid,
                    "seq_no": self._cluster_seq_no,
                    "templates": self.templates,
                    "ism_policies": self.ism_policies,
                    "roles": self.roles,
                    "roles_mapping": self.roles_mapping,
                    "saved_objects": self.saved_objects,
                    "ingest_pipelines": self.pipelines,
                }
            )

    def _save_meta(self, index: Index) -> None:
        if self.journal is not None:
            self.journal.write_meta(index.name, index.meta())

    def flush(self) -> None:
        """Hand journal lines written so far to the operating system (end of every request)."""
        with self.lock:
            if self.journal is not None:
                self.journal.flush()

    def close(self) -> None:
        """Compact every journal to its live documents and close the files."""
        with self.lock:
            if self.journal is None:
                return
            for index in self.indices.values():
                if self.journal.needs_rewrite(index.name):
                    records = (d.record() for d in index.docs.values())
                    self.journal.rewrite(index.name, index.meta(), records)
            self.journal.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Hold the cluster lock for one request and flush the journal after it."""
        with self.lock:
            try:
                yield self
            finally:
                self.flush()

    # ------------------------------------------------------------ indices

    def resolve(
        self,
        expression: str | None,
        ignore_unavailable: bool = False,
        allow_no_indices: bool = True,
    ) -> list[str]:
        """Index names for `a,b`, `sensor-log-*`, `_all`, `*` and `-excluded*` expressions."""
        parts = [p for p in (expression or "_all").split(",") if p]
        names: list[str] = []
        for position, part in enumerate(parts):
            if part in {"_all", "*"}:
                names.extend(n for n in sorted(self.indices) if n not in names)
            elif part.startswith("-") and position > 0:
                names = [n for n in names if not wildcard_match(part[1:], n)]
            elif "*" in part:
                names.extend(
                    n for n in sorted(self.indices) if wildcard_match(part, n) and n not in names
                )
            elif part in self.indices:
                if part not in names:
                    names.append(part)
            elif not ignore_unavailable:
                raise index_not_found(part)
        if not names and not allow_no_indices:
            raise index_not_found(expression or "_all")
        return names

    def index(self, name: str) -> Index:
        found = self.indices.get(name)
        if found is None:
            raise index_not_found(name)
        return found

    def template_for(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """The matching index template with the highest priority (hidden names need a `.`)."""
        best: tuple[int, str] | None = None
        for template_name, template in self.templates.items():
            if any(wildcard_match(p, name) for p in template["index_patterns"]):
                priority = int(template.get("priority", 0))
                if best is None or priority > best[0]:
                    best = (priority, template_name)
        return None if best is None else (best[1], self.templates[best[1]])

    def create_index(self, name: str) -> Index:
        """Create an index with the settings and mappings of the matching index template."""
        check_index_name(name)
        if name in self.indices:
            raise OpenSearchError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{self.indices[name].uuid}] already exists",
                index=name,
            )
        settings: dict[str, Any] = {}
        mappings: dict[str, Any] = {}
        matched = self.template_for(name)
        if matched is not None:
            template = matched[1].get("template", {})
            settings.update(flatten_settings(template.get("settings")))
            mappings = check_mappings(template.get("mappings"))
        created = self.clock()
        settings = {
            "index.number_of_shards": "1",
            "index.number_of_replicas": "1",
            **settings,
            "index.creation_date": str(created),
            "index.provided_name": name,
            "index.uuid": secrets.token_urlsafe(16)[:22],
            "index.version.created": EMULATED_VERSION_CREATED,
        }
        index = Index(name, settings["index.uuid"], created, settings, Mapping(mappings))
        policy_id = policy_for_index(self.ism_policies, name, created)
        if policy_id is not None:
            index.ism = {
                "policy_id": policy_id,
                "enabled": True,
                "state": None,
                "init_time": created,
            }
        self.indices[name] = index
        self._save_meta(index)
        return index

    def ensure_index(self, name: str) -> Index:
        """The index, created on first write as OpenSearch's auto_create_index does."""
        return self.indices.get(name) or self.create_index(name)

    def delete_index(self, name: str) -> None:
        self.index(name)
        del self.indices[name]
        if self.journal is not None:
            self.journal.drop(name)

    def put_settings(self, name: str, body: Any) -> None:
        index = self.index(name)
        flat = flatten_settings(body.get("settings", body) if isinstance(body, dict) else body)
        if "index.number_of_shards" in flat:
            raise bad_request(
                "Can't update non dynamic settings [[index.number_of_shards]] for open indices "
                f"[[{name}]]"
            )
        index.settings.update(flat)
        self._save_meta(index)

    # ------------------------------------------------------------ documents

    @staticmethod
    def _with_meta(fields: dict[str, list[Any]], index: str, doc_id: str) -> dict[str, list[Any]]:
        fields["_id"] = [doc_id]
        fields["_index"] = [index]
        return fields

    @staticmethod
    def check_id(doc_id: str) -> None:
        if doc_id == "":
            raise bad_request(
                "if _id is specified it must not be empty", "action_request_validation_exception"
            )
        size = len(doc_id.encode("utf-8"))
        if size > MAX_ID_BYTES:
            raise bad_request(
                f"Validation Failed: 1: id [{doc_id[:50]}...] is too long, must be no longer than "
                f"{MAX_ID_BYTES} bytes but was: {size};",
                "action_request_validation_exception",
            )

    def index_document(
        self,
        name: str,
        doc_id: str | None,
        source: Any,
        op_type: str = "index",
    ) -> tuple[int, dict[str, Any]]:
        """Index or create one document: (HTTP status, OpenSearch's result body)."""
        if doc_id is None:
            doc_id = new_document_id()
            op_type = "create"
        self.check_id(doc_id)
        index = self.ensure_index(name)
        existing = index.docs.get(doc_id)
        if op_type == "create" and existing is not None:
            raise self._conflict(
                index, doc_id, f"document already exists (current version [{existing.version}])"
            )
        parsed = index.mapping.parse(source, doc_id)
        if parsed.mapping_changed:
            self._save_meta(index)
        document = Document(
            id=doc_id,
            source=source,
            version=existing.version + 1 if existing else 1,
            seq_no=index.next_seq_no,
            fields=self._with_meta(parsed.fields, name, doc_id),
            size=len(json.dumps(source)),
        )
        index.next_seq_no += 1
        index.docs[doc_id] = document
        if self.journal is not None:
            self.journal.append(name, document.record(), replaces=existing is not None)
        result = "updated" if existing else "created"
        return (200 if existing else 201), self._result(index, document, result)

    def _result(self, index: Index, document: Document, result: str) -> dict[str, Any]:
        return {
            "_index": index.name,
            "_id": document.id,
            "_version": document.version,
            "result": result,
            "_shards": index.shards_header(),
            "_seq_no": document.seq_no,
            "_primary_term": PRIMARY_TERM,
        }

    @staticmethod
    def _conflict(index: Index, doc_id: str, detail: str) -> OpenSearchError:
        return OpenSearchError(
            409,
            "version_conflict_engine_exception",
            f"[{doc_id}]: version conflict, {detail}",
            index=index.name,
            shard="0",
            index_uuid=index.uuid,
        )

    # ------------------------------------------------------------ ingest pipelines

    def put_pipeline(self, pipeline_id: str, body: Any) -> None:
        self.pipelines[pipeline_id] = check_pipeline(pipeline_id, body)
        self.save_cluster()

    def find_pipelines(self, expression: str | None) -> dict[str, dict[str, Any]]:
        return {n: self.pipelines[n] for n in matching(self.pipelines, expression)}

    def _index_settings(self, name: str) -> dict[str, Any]:
        """The settings an index has, or the ones its first write would give it."""
        index = self.indices.get(name)
        if index is not None:
            return index.settings
        matched = self.template_for(name)
        return flatten_settings(matched[1]["template"].get("settings")) if matched else {}

    def ingest(
        self, name: str, doc_id: str | None, source: Any, requested: str | None = None
    ) -> tuple[str, str | None, Any]:
        """Run the pipelines of an index request: the requested one or the index's
        `index.default_pipeline`, then its `index.final_pipeline`. Returns the index, id and
        source to write."""
        settings = self._index_settings(name)
        first = requested if requested is not None else settings.get("index.default_pipeline")
        final = settings.get("index.final_pipeline")
        ids = [p for p in (first, final) if p and p != NO_PIPELINE]
        if not ids or not isinstance(source, dict):
            return name, doc_id, source
        document = IngestDocument(name, doc_id, source)
        for pipeline_id in ids:
            pipeline = self.pipelines.get(pipeline_id)
            if pipeline is None:
                raise pipeline_missing(pipeline_id)
            run_pipeline(pipeline, document)
        return document.index, document.doc_id, document.source

    # ------------------------------------------------------------ index templates

    def put_template(self, name: str, body: Any, create: bool = False) -> None:
        if not isinstance(body, dict):
            raise bad_request("the index template body must be an object")
        unknown = set(body) - _TEMPLATE_KEYS
        if unknown:
            if "data_stream" in unknown:
                raise not_supported("a data stream template")
            raise OpenSearchError(
                400,
                "x_content_parse_exception",
                f"[index_template] unknown field [{sorted(unknown)[0]}]",
            )
        if create and name in self.templates:
            raise bad_request(f"index template [{name}] already exists")
        patterns = body.get("index_patterns")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise bad_request(
                "Validation Failed: 1: index patterns are missing;",
                "action_request_validation_exception",
            )
        if body.get("composed_of"):
            raise not_supported("component templates (composed_of)")
        template = body.get("template", {}) or {}
        if not isinstance(template, dict) or set(template) - {"settings", "mappings", "aliases"}:
            raise OpenSearchError(
                400,
                "x_content_parse_exception",
                "[template] accepts settings, mappings and aliases",
            )
        if template.get("aliases"):
            raise not_supported("aliases in index templates")
        flatten_settings(template.get("settings"))
        check_mappings(template.get("mappings"))
        priority = body.get("priority", 0)
        if not isinstance(priority, int) or priority < 0:
            raise bad_request(f"index template priority must be >= 0, was [{priority}]")
        self._check_overlap(name, patterns, priority)
        stored = copy.deepcopy({**body, "index_patterns": patterns, "template": template})
        stored.setdefault("composed_of", [])
        self.templates[name] = stored
        self.save_cluster()

    def _check_overlap(self, name: str, patterns: list[str], priority: int) -> None:
        """Two templates of the same priority may not match the same index (as in OpenSearch)."""
        for other_name, other in self.templates.items():
            if other_name == name or int(other.get("priority", 0)) != priority:
                continue
            if any(patterns_overlap(p, q) for p in patterns for q in other["index_patterns"]):
                raise bad_request(
                    f"index template [{name}] has index patterns {patterns} matching patterns "
                    f"from existing templates [{other_name}] with patterns ({other_name} => "
                    f"{other['index_patterns']}) that have the same priority [{priority}], "
                    "multiple index templates may not match during index creation, please use a "
                    "different priority"
                )

    # ------------------------------------------------------------ ISM

    def put_policy(
        self, policy_id: str, body: Any, if_seq_no: int | None, if_primary_term: int | None
    ) -> tuple[int, dict[str, Any]]:
        existing = self.ism_policies.get(policy_id)
        if existing is not None and if_seq_no is None:
            raise OpenSearchError(
                409,
                "version_conflict_engine_exception",
                f"[{policy_id}]: version conflict, document already exists (current version "
                f"[{existing['_version']}])",
            )
        if existing is None and if_seq_no is not None:
            raise OpenSearchError(
                404, "status_exception", f"Policy [{policy_id}] not found, cannot update it"
            )
        if existing is not None and (
            if_seq_no != existing["_seq_no"] or if_primary_term != PRIMARY_TERM
        ):
            raise OpenSearchError(
                409,
                "version_conflict_engine_exception",
                f"[{policy_id}]: version conflict, required seqNo [{if_seq_no}], primary term "
                f"[{if_primary_term}]. current document has seqNo [{existing['_seq_no']}] and "
                f"primary term [{PRIMARY_TERM}]",
            )
        policy = check_policy(policy_id, body, self.clock())
        stored = {
            "_id": policy_id,
            "_version": existing["_version"] + 1 if existing else 1,
            "_seq_no": self._cluster_seq_no,
            "_primary_term": PRIMARY_TERM,
            "policy": policy,
        }
        self._cluster_seq_no += 1
        self.ism_policies[policy_id] = stored
        self.save_cluster()
        response = {k: v for k, v in stored.items() if k != "policy"}
        response["policy"] = {"policy": policy}
        return (200 if existing else 201), response

    def policy(self, policy_id: str) -> dict[str, Any]:
        stored = self.ism_policies.get(policy_id)
        if stored is None:
            raise OpenSearchError(404, "status_exception", "Policy not found")
        return stored

    def attach_policy(self, names: list[str], policy_id: str | None) -> None:
        """Manage the indices with a policy (`_ism/add`), or stop managing them (None)."""
        if policy_id is not None:
            self.policy(policy_id)
        for name in names:
            index = self.index(name)
            index.ism = (
                None
                if policy_id is None
                else {
                    "policy_id": policy_id,
                    "enabled": True,
                    "state": None,
                    "init_time": self.clock(),
                }
            )
            self._save_meta(index)

    def run_ism(self, now_ms: int | None = None) -> list[str]:
        """Advance every managed index through its policy; returns the indices it deleted."""
        now = self.clock() if now_ms is None else now_ms
        deleted = []
        with self.lock:
            for index in list(self.indices.values()):
                if index.ism is None or not index.ism.get("enabled", True):
                    continue
                stored = self.ism_policies.get(index.ism["policy_id"])
                if stored is None:
                    index.ism["info"] = {"message": "Policy not found"}
                    continue
                facts = IndexFacts(index.created_ms, len(index.docs), index.size_bytes)
                index.ism, delete = advance(index.ism, stored["policy"], facts, now)
                if delete:
                    self.delete_index(index.name)
                    deleted.append(index.name)
                else:
                    self._save_meta(index)
        return deleted

    # ------------------------------------------------------------ security roles mapping

    def security_table(self, kind: str) -> dict[str, dict[str, Any]]:
        """The security plugin's `roles` or `rolesmapping` resources."""
        return self.roles if kind == "roles" else self.roles_mapping

    def put_security(self, kind: str, name: str, body: Any) -> bool:
        """Store a role or a roles mapping; True when it is new."""
        table = self.security_table(kind)
        created = name not in table
        table[name] = check_role(name, body) if kind == "roles" else check_role_mapping(name, body)
        self.save_cluster()
        return created
