"""The local cloud's account: region, account id, credentials, and ARNs built from them.

Every local service, the deployer and the functions' environment take these from here.
"""

from __future__ import annotations

from typing import Final

PARTITION: Final = "aws"
REGION: Final = "us-east-1"
ACCOUNT_ID: Final = "123456789012"  # moto's default account
CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "localcloud",
    "AWS_SECRET_ACCESS_KEY": "localcloud",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def arn(service: str, resource: str, *, region: str = REGION, account: str = ACCOUNT_ID) -> str:
    """`arn:aws:<service>:<region>:<account>:<resource>` in the local account; S3 bucket ARNs
    pass `region=""` and `account=""`."""
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"
