"""hutch's image commands, as docker's: pull, images, rmi, image inspect, login, logout."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from hutch.flags import Option, UsageError, help_text, parse

PULL_OPTIONS = [
    Option(("-q", "--quiet"), help="print only the image ID"),
    Option(("--platform",), "OS/ARCH[/VARIANT]", "the platform to pull (default: this machine's)"),
    Option(("-h", "--help"), help="show this help"),
]
IMAGES_OPTIONS = [
    Option(("-q", "--quiet"), help="print only image IDs"),
    Option(("--format",), "FORMAT", "table (default) or json", default="table", choices=("table", "json")),
    Option(("-h", "--help"), help="show this help"),
]
LOGIN_OPTIONS = [
    Option(("-u", "--username"), "USER", "user name"),
    Option(("-p", "--password"), "PASSWORD", "password (prefer --password-stdin)"),
    Option(("--password-stdin",), help="read the password from stdin"),
    Option(("-h", "--help"), help="show this help"),
]
HELP_ONLY = [Option(("-h", "--help"), help="show this help")]


def run_command(verb: str, argv: list[str], root: str) -> int:
    if verb == "image":
        if not argv or argv[0] not in ("inspect", "ls", "pull", "rm"):
            raise UsageError("usage: hutch image inspect|ls|pull|rm ...")
        verb, argv = {"ls": "images", "rm": "rmi"}.get(argv[0], argv[0]), argv[1:]
    handler = {"pull": pull_command, "images": images_command, "rmi": rmi_command, "inspect": inspect_command,
               "login": login_command, "logout": logout_command}[verb]
    return handler(argv, root)


def _store(root: str):
    from hutch.image.store import Store

    return Store(root)


def pull_command(argv: list[str], root: str) -> int:
    flags, rest = parse(PULL_OPTIONS, argv)
    if flags["help"]:
        print(help_text("hutch pull [OPTIONS] IMAGE", "Pull an image from a registry.", PULL_OPTIONS))
        return 0
    if len(rest) != 1:
        raise UsageError("pull needs exactly one image")
    record = pull_image(rest[0], root, quiet=bool(flags["quiet"]), platform=flags["platform"])
    print(record.id if flags["quiet"] else f"{record.name}: pulled, image ID {_short(record.id)}")
    return 0


def pull_image(text: str, root: str, quiet: bool = False, platform: object = None):
    """Pull with progress on stderr (bars on a terminal, a line per layer otherwise); used by run too."""
    from hutch.image import registries
    from hutch.image.pull import parse_platform, pull
    from hutch.image.reference import parse as parse_reference

    parse_reference(text)  # a malformed name fails before anything is made under --root
    chosen = parse_platform(str(platform)) if platform else None
    progress = None if quiet else (TerminalProgress() if sys.stderr.isatty() else LineProgress())
    try:
        return pull(text, _store(root), registries.load(), platform=chosen, progress=progress)
    finally:
        if isinstance(progress, TerminalProgress):
            progress.close()


def ensure_image(text: str, root: str, platform: object = None):
    """The stored image `text` names; pulled first if it is not there, as `docker run` does."""
    from hutch.image import registries

    store = _store(root)
    for reference in registries.load().candidates(text):
        record = store.get_image(str(reference))
        if record is not None:
            return record
    print(f"Unable to find image '{text}' locally", file=sys.stderr, flush=True)
    return pull_image(text, root, platform=platform)


def images_command(argv: list[str], root: str) -> int:
    flags, _rest = parse(IMAGES_OPTIONS, argv)
    if flags["help"]:
        print(help_text("hutch images [OPTIONS]", "List the images in the store.", IMAGES_OPTIONS))
        return 0
    store = _store(root)
    records = store.images()
    if flags["quiet"]:
        for record in records:
            print(_short(record.id))
        return 0
    rows = []
    for record in records:
        repository, _, tag = record.name.rpartition(":") if "@" not in record.name else (record.name, "", "")
        size = sum(_layer_size(store, d) for d in record.diff_ids)
        rows.append({"Repository": repository or record.name, "Tag": tag or "<none>", "ID": _short(record.id),
                     "Digest": record.digest, "Created": record.created, "Size": size})
    if flags["format"] == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'REPOSITORY':<40} {'TAG':<16} {'IMAGE ID':<14} {'CREATED':<22} SIZE")
    for row in rows:
        print(f"{row['Repository']:<40} {row['Tag']:<16} {row['ID']:<14} {row['Created']:<22} "
              f"{_human(row['Size'])}")
    return 0


def _operands(argv: list[str], usage: str, summary: str, count: int | None = None) -> list[str] | None:
    """The operands of a command with no options but --help; None when help was shown (or asked for).
    A wrong number of operands is a usage error."""
    flags, rest = parse(HELP_ONLY, argv)
    if flags["help"]:
        print(help_text(usage, summary, HELP_ONLY))
        return None
    if not rest or (count is not None and len(rest) != count):
        raise UsageError(f"usage: {usage}")
    return rest


def rmi_command(argv: list[str], root: str) -> int:
    rest = _operands(argv, "hutch rmi IMAGE...", "Remove images; a layer goes when no other image uses it.")
    if rest is None:
        return 0
    from hutch.engine.image_root import layers_in_use

    store = _store(root)
    for text in rest:
        record = find_image(store, text)
        used = layers_in_use(root)  # a running container's layers stay, as the image's name goes
        for digest in store.remove_image(record.name, in_use=used.__contains__):
            print(f"Deleted: {digest}")
        print(f"Untagged: {record.name}")
    return 0


def inspect_command(argv: list[str], root: str) -> int:
    rest = _operands(argv, "hutch image inspect IMAGE...", "Show images' records and configs as JSON.")
    if rest is None:
        return 0
    store = _store(root)
    out = []
    for text in rest:
        record = find_image(store, text)
        config = json.loads(store.read_blob(record.config))
        out.append({"Id": record.id, "RepoTags": [record.name], "RepoDigests": [record.digest],
                    "Created": config.get("created", ""), "Architecture": config.get("architecture", ""),
                    "Os": config.get("os", ""), "Config": config.get("config", {}),
                    "RootFS": {"Type": "layers", "Layers": record.diff_ids}, "Stored": record.created})
    print(json.dumps(out, indent=2))
    return 0


def find_image(store, text: str):
    """An image by name (normalised as docker does), by full or short ID, or by name@digest."""
    from hutch.image.reference import ReferenceError, parse
    from hutch.image.store import StoreError

    try:
        record = store.get_image(str(parse(text)))
    except ReferenceError:
        record = None
    if record is not None:
        return record
    wanted = text.removeprefix("sha256:")
    for candidate in store.images():
        ident = candidate.id.removeprefix("sha256:")
        if len(wanted) >= 4 and ident.startswith(wanted):
            return candidate
    raise StoreError(f"no such image: {text}")


def login_command(argv: list[str], root: str) -> int:
    from hutch.image import auth, registries
    from hutch.image.registry import Client

    flags, rest = parse(LOGIN_OPTIONS, argv)
    if flags["help"]:
        print(help_text("hutch login [OPTIONS] REGISTRY", "Log in to a registry.", LOGIN_OPTIONS))
        return 0
    if len(rest) != 1:
        raise UsageError("login needs exactly one registry")
    registry = _registry_host(rest[0])
    username = flags["username"] or _prompt("Username: ")
    if flags["password_stdin"]:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = flags["password"] or _secret("Password: ")
    if not username or not password:
        raise UsageError("login needs a user name and a password")
    credentials = auth.Credentials(str(username), str(password))
    config = registries.load()
    endpoint = config.endpoints(registry)[-1]
    client = Client(registry, insecure=endpoint.insecure, credentials=credentials)
    try:
        client.check_login()
    finally:
        client.close()
    path = auth.store(registry, credentials)
    print(f"Login Succeeded (credentials in {path})")
    return 0


def logout_command(argv: list[str], root: str) -> int:
    from hutch.image import auth

    rest = _operands(argv, "hutch logout REGISTRY", "Forget a registry's credentials.", count=1)
    if rest is None:
        return 0
    registry = _registry_host(rest[0])
    removed = auth.remove(registry)
    print(f"Removing login credentials for {registry}" if removed else f"Not logged in to {registry}")
    return 0


def _registry_host(text: str) -> str:
    host = text.removeprefix("https://").removeprefix("http://").split("/")[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _prompt(label: str) -> str:
    print(label, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip()


def _secret(label: str) -> str:
    import getpass

    return getpass.getpass(label)


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _layer_size(store, diff_id: str) -> int:
    try:
        with open(os.path.join(store.layer_path(diff_id), "size")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.1f}{unit}" if unit != "B" else f"{int(size)}B"
        size /= 1000
    return f"{size:.1f}GB"


class LineProgress:
    """Not on a terminal: one plain line per finished layer."""

    def layer_started(self, digest: str, size: int) -> None:
        pass

    def layer_advanced(self, digest: str, done: int) -> None:
        pass

    def layer_finished(self, digest: str, size: int, cached: bool) -> None:
        state = "already exists" if cached else "pull complete"
        print(f"{_short(digest)}: {state} ({_human(size)})", file=sys.stderr, flush=True)


class TerminalProgress(LineProgress):
    """On a terminal: a bar per layer and one for the whole image, with bytes, rate and ETA, redrawn in
    place at most ten times a second."""

    def __init__(self) -> None:
        self.layers: dict[str, list[float]] = {}  # digest -> [done, size, finished]
        self.lock = threading.Lock()
        self.start = time.monotonic()
        self.drawn = 0
        self.last = 0.0

    def layer_started(self, digest: str, size: int) -> None:
        with self.lock:
            self.layers.setdefault(digest, [0, size, 0])
            self._draw(force=True)

    def layer_advanced(self, digest: str, done: int) -> None:
        with self.lock:
            self.layers[digest][0] = done
            self._draw()

    def layer_finished(self, digest: str, size: int, cached: bool) -> None:
        with self.lock:
            self.layers[digest] = [size, size, 1]
            self._draw(force=True)

    def close(self) -> None:
        with self.lock:
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        lines = [_bar(_short(d), done, size, finished) for d, (done, size, finished) in self.layers.items()]
        done = sum(v[0] for v in self.layers.values())
        total = sum(v[1] for v in self.layers.values())
        elapsed = max(now - self.start, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 and total > done else 0
        lines.append(_bar("total", done, total, False) + f" {_human(rate)}/s ETA {eta:.0f}s")
        out = ("\x1b[F" * self.drawn) + "".join(f"\x1b[2K{line}\n" for line in lines)
        sys.stderr.write(out)
        sys.stderr.flush()
        self.drawn = len(lines)


def _bar(label: str, done: float, size: float, finished: float) -> str:
    width = 30
    fraction = min(done / size, 1.0) if size else (1.0 if finished else 0.0)
    filled = int(fraction * width)
    state = "done" if finished else f"{_human(done)}/{_human(size)}"
    return f"{label:<12} [{'=' * filled}{' ' * (width - filled)}] {state}"
