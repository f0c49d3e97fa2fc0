"""CloudFormation: the synthesized template, deployed onto the local cloud."""
