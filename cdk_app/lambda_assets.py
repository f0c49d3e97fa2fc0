"""A Lambda's asset: its folder `lambdas/<fn>/`, plus modules it shares with another function.

A shared module has one source file, in the function that owns it, and is copied into every
other asset that imports it when the app is synthesized: a local bundling step that copies
files (no Docker), so `cdk.out/asset.<hash>/` holds exactly the code the Lambda runtime gets and
the asset's hash covers the copies. The reading contract is the one shared today: the alerter
imports `validator.reading` and `validator.envelope` from `lambdas/validator/validator/`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

EXCLUDE = ("__pycache__", "*.pyc", "requirements.txt", "README.md")


@dataclass(frozen=True)
class SharedPackage:
    """Modules of package `package` (in `lambdas/<owner>/<package>/`) another asset carries."""

    owner: str
    package: str
    modules: tuple[str, ...]

    def files(self, lambdas: Path) -> list[Path]:
        folder = lambdas / self.owner / self.package
        found = [folder / "__init__.py", *(folder / f"{m}.py" for m in self.modules)]
        missing = [str(path) for path in found if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"shared Lambda code missing: {', '.join(missing)}")
        return found


# The reading contract (CONTRACTS.md "Reading (schema 1)"), owned by the validator.
READING_CONTRACT = SharedPackage("validator", "validator", ("reading", "envelope"))


@jsii.implements(ILocalBundling)
class _CopyFiles:
    """Local bundling: the function's folder, then the shared packages' files."""

    def __init__(self, folder: Path, shared: Sequence[tuple[Path, str]]) -> None:
        self.folder = folder
        self.shared = shared

    def try_bundle(self, output_dir: str, *_options: object) -> bool:
        out = Path(output_dir)
        ignore = shutil.ignore_patterns(*EXCLUDE)
        shutil.copytree(self.folder, out, ignore=ignore, dirs_exist_ok=True)
        for source, package in self.shared:
            (out / package).mkdir(exist_ok=True)
            shutil.copyfile(source, out / package / source.name)
        return True


def lambda_code(folder: Path, shared: Sequence[SharedPackage] = ()) -> lambda_.Code:
    """The asset of the function in `folder`, carrying the `shared` packages' modules."""
    if not shared:
        return lambda_.Code.from_asset(str(folder), exclude=[f"**/{p}" for p in EXCLUDE])
    for package in shared:
        if (folder / package.package).exists():
            raise FileExistsError(
                f"{folder / package.package} would hide the shared package copied at synth"
            )
    files = [(path, package.package) for package in shared for path in package.files(folder.parent)]
    return lambda_.Code.from_asset(
        str(folder),
        bundling=BundlingOptions(
            # Never pulled: the local step always succeeds, so Docker is not needed.
            image=DockerImage.from_registry("scratch"),
            local=_CopyFiles(folder, files),
        ),
    )
