"""CloudFormation: the synthesized template, deployed onto the local cloud.

- `template`: loading `cdk.out/<Stack>.template.json`, dependency order, physical names and
  the intrinsic functions.
- `deployer`: the generic walk that hands each resource to its service's handler, and the
  `Deployment` the services run from.
- `resources`: the deploy as a service of the local cloud (and the stack's outputs).
"""
