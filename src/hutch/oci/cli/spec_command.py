"""hutch-runtime spec and features."""

from __future__ import annotations

import os
import sys

from hutch.flags import Option
from hutch.oci.cli.lifecycle import HELP_ONLY, parse_command
from hutch.oci.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.oci.cli.main import Context

SPEC_OPTIONS = [
    Option(("-b", "--bundle"), "DIR", "path to the root of the bundle directory"),
    Option(("--rootless",), help="generate a configuration for a rootless container"),
    *HELP_ONLY,
]


def spec_command(ctx: Context, args: list[str]) -> int:
    parsed = parse_command("spec", "", SPEC_OPTIONS, args, 0, 0)
    if parsed is None:
        return 0
    values, _ = parsed
    from hutch import jsonlite
    from hutch.files import write_atomic
    from hutch.oci.config.features import default_config

    bundle = str(values["bundle"] or ".")
    path = os.path.join(bundle, "config.json")
    if os.path.lexists(path):
        raise ContainerError("File config.json exists. Remove it first")
    if not os.path.isdir(bundle):
        raise ContainerError(f"bundle {bundle} does not exist or is not a directory")
    text = jsonlite.dumps(default_config(rootless=bool(values["rootless"])), indent="\t")
    write_atomic(os.path.abspath(path), text.encode(), mode=0o666 & ~_umask())
    return 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def features_command(ctx: Context, args: list[str]) -> int:
    if parse_command("features", "", HELP_ONLY, args, 0, 0) is None:
        return 0
    from hutch import jsonlite
    from hutch.oci.config.features import features

    sys.stdout.write(jsonlite.dumps(features(), indent=4) + "\n")
    return 0


COMMANDS = {"spec": spec_command, "features": features_command}
