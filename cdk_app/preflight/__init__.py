"""Pre-deploy checks: `make preflight` (`python -m cdk_app.preflight`).

A first `cdk deploy` on a fresh account can fail twenty minutes in, when CloudFormation reaches
the OpenSearch domain or a resource after it. These checks ask the account and the region, with
the user's credentials and before anything is created, for what such a deploy needs, and print
one line per check with what to do when it fails. `checks` holds one function per check,
`runner` runs them in order, `context` reads the settings as the CDK app does, `outputs` prints
a finished deploy's outputs and the next step.
"""
