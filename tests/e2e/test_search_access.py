"""The local cloud applies the OpenSearch domain's access rules, so an access-model mistake
fails the local deploy as it would fail `cdk deploy` (issue: the set-up custom resource got HTTP
403 on AWS because the domain access policy named IAM roles while the set-up used basic auth)."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest
from faults_support import STACK, fault_context, local_cloud, synthesized

from localcloud.opensearch.access import basic_auth

pytestmark = pytest.mark.e2e


def get(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - local endpoint
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_the_deployed_domain_answers_only_authenticated_requests(tmp_path_factory):
    cdk_out = synthesized(tmp_path_factory.getbasetemp(), fault_context())
    with local_cloud(tmp_path_factory.mktemp("access") / "cloud", cdk_out) as cloud:
        cloud.start()  # the set-up custom resource (basic auth) and Firehose (SigV4) work
        env = cloud.env()
        url = f"{env['OPENSEARCH_URL']}/_cat/indices"
        assert get(url, {}) == 401
        assert get(url, basic_auth(env)) == 200
        wrong = basic_auth({**env, "OPENSEARCH_PASSWORD": "not-it"})
        assert get(url, wrong) == 401


def test_a_domain_policy_naming_iam_roles_fails_the_local_deploy(tmp_path_factory):
    """The template as it was: the access policy names the Firehose and set-up roles."""
    good = synthesized(tmp_path_factory.getbasetemp(), fault_context())
    broken = tmp_path_factory.mktemp("broken-cdk-out")
    shutil.copytree(good, broken, dirs_exist_ok=True)
    path = broken / f"{STACK}.template.json"
    template = json.loads(path.read_text())
    resources = template["Resources"]
    domain = next(r for r in resources.values() if r["Type"] == "AWS::OpenSearchService::Domain")
    roles = [
        {"Fn::GetAtt": [logical_id, "Arn"]}
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        and logical_id.startswith(("SearchRole", "SearchSetupRole"))
    ]
    assert len(roles) == 2
    (statement,) = domain["Properties"]["AccessPolicies"]["Statement"]
    statement["Principal"] = {"AWS": roles}
    path.write_text(json.dumps(template))
    with local_cloud(tmp_path_factory.mktemp("broken") / "cloud", broken) as cloud:
        with pytest.raises(Exception, match="403") as caught:
            cloud.start()
        assert "not authorized" in str(caught.value) or "anonymous" in str(caught.value)
