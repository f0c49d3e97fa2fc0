"""The real synthesized template deployed onto moto and the local Athena endpoint, with the
small lake of analytics_lake.py in its data bucket."""

from dataclasses import dataclass

import boto3
import pytest
from analytics_lake import (
    alert_objects,
    compacted_objects,
    devices_objects,
    raw_objects,
    readings,
)

from demo.accounting import athena_query
from localcloud.athena.server import AthenaServer
from localcloud.cloud import RESOURCE_TYPES
from localcloud.cloudformation.deployer import Clients, Deployer, Deployment
from localcloud.cloudformation.template import StackTemplate
from tests.conftest import point_boto3_at


@dataclass(frozen=True)
class Lake:
    deployment: Deployment
    bucket: str
    database: str
    workgroup: str

    def named_queries(self) -> dict[str, str]:
        """Name -> SQL of the named queries the template deployed."""
        athena = boto3.client("athena")
        ids = athena.list_named_queries(WorkGroup=self.workgroup)["NamedQueryIds"]
        found = [athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids]
        return {q["Name"]: q["QueryString"] for q in found}

    def rows(self, sql: str) -> list[list[str]]:
        """Athena's result rows (header first, values as strings), through the Athena API."""
        return athena_query(sql, self.database, self.workgroup)

    def query(self, sql: str) -> list[dict[str, str]]:
        """Rows as dicts of strings (Athena's result values)."""
        header, *rows = self.rows(sql)
        return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.fixture(scope="module")
def lake(moto_server, cdk_out, tmp_path_factory):
    moto_server.reset()
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_boto3_at(moto_server, monkeypatch)
        with AthenaServer(work_dir=tmp_path_factory.mktemp("athena")) as athena:
            monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", athena.endpoint)
            template = StackTemplate.load(cdk_out, "SensorPipeline")
            deployment = Deployer(
                template, Clients(), RESOURCE_TYPES, env={"OPENSEARCH_URL": "http://127.0.0.1:9"}
            ).deploy()
            compactor = next(
                f["Environment"]["Variables"]
                for f in deployment.runtime["AWS::Lambda::Function"].values()
                if f["Handler"] == "compactor.handler.lambda_handler"
            )
            bucket = compactor["DATA_BUCKET"]
            s3 = boto3.client("s3")
            rows = readings()
            objects = {
                **compacted_objects(rows),
                **raw_objects(rows),
                **alert_objects(),
                **devices_objects(),
            }
            for key, body in objects.items():
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            yield Lake(
                deployment, bucket, compactor["GLUE_DATABASE"], compactor["ATHENA_WORKGROUP"]
            )
