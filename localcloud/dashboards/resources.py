"""The local dashboard's start-up: once the template is deployed and its custom resource has
imported the saved objects into the emulated OpenSearch, a page on its own loopback port that
draws them (`server.py`); its URL is published as `DASHBOARDS_URL`. It owns no CloudFormation
type: on AWS, OpenSearch Dashboards comes with the domain."""

from __future__ import annotations

from opensearchpy import OpenSearch

from localcloud.core.registry import CloudContext, ServerService
from localcloud.dashboards.server import DashboardServer
from localcloud.opensearch.access import PASSWORD_VARIABLE, USER_VARIABLE
from localcloud.opensearch.server import ENDPOINT_VARIABLE

ALERTER = "alerter.handler.lambda_handler"


class Dashboards(ServerService[DashboardServer]):
    stopping = "the local dashboard"
    label = "local dashboard (OpenSearch Dashboards' saved objects, drawn)"

    def create(self, context: CloudContext) -> DashboardServer:
        user, password = context.env.get(USER_VARIABLE), context.env.get(PASSWORD_VARIABLE)
        search = OpenSearch(
            hosts=[context.env[ENDPOINT_VARIABLE]],
            http_auth=(user, password) if user and password is not None else None,
            timeout=30,
        )
        functions = context.deployed.runtime.get("AWS::Lambda::Function", {}).values()
        alerter = next((f for f in functions if f.get("Handler") == ALERTER), None)
        table = alerter["Environment"]["Variables"]["STATE_TABLE"] if alerter else None
        return DashboardServer(context.port("dashboards"), search, table)
