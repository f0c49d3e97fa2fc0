"""The preflight reads the bootstrap version the app's template needs from the template's own
CheckBootstrapVersion rule: the rule the real synth writes has the shape it parses."""

from aws_cdk.assertions import Template

from cdk_app.preflight.checks import MINIMUM_BOOTSTRAP_VERSION, required_bootstrap_version


def test_the_synthesized_rule_gives_the_version_its_description_names(template: Template):
    synthesized = template.to_json()
    assertion = synthesized["Rules"]["CheckBootstrapVersion"]["Assertions"][0]
    needed = required_bootstrap_version(synthesized)
    assert needed >= MINIMUM_BOOTSTRAP_VERSION
    assert f"version {needed} required" in assertion["AssertDescription"]
