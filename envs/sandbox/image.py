"""The OS env's task image: a small Debian root filesystem that sandboxes use instead of the host's directories.

AgentBench runs every OS task in a small Ubuntu container (python3, pip, git, vim, curl, wget, zip, unzip, tree);
this is its counterpart, built from the distribution's packages with ``mmdebstrap`` and cached under the data
dir, so that tasks that count or search files see the same small machine everywhere, never the host.

    make os-image                                   # or: python -m envs.sandbox.image build
    python -m envs.sandbox.image show               # where it is and its digest
    image = find_image()                            # the built image, or None
    Sandbox(SandboxConfig(image=str(image.root)))   # its rootfs is the sandbox's lower layer

Layout (``image_dir()``: ``$AGENTTUNE_DATA_DIR/os-image``; the data dir defaults to /var/cache/agenttune for
root, ``${XDG_CACHE_HOME:-~/.cache}/agenttune`` otherwise)::

    os-image/rootfs/       the root filesystem; owners shifted by UID_BASE (uid 0 inside is host uid UID_BASE)
    os-image/image.json    {"digest": "sha256:...", "suite", "packages", "files", "uid_base"}

Owners are shifted so that the sandbox's user namespace (inside 0..65535 -> host UID_BASE..UID_BASE+65535) sees
them as root, users and groups it can chown, write and copy up; host uid 0 never owns a file of the image.
The digest is a sha256 over the sorted manifest (path, type, mode, owner, content hash or link target): the same
content gives the same digest, whatever the mtimes. Building needs root, mmdebstrap and a Debian mirror.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from envs.sandbox.errors import SandboxError

log = logging.getLogger(__name__)

UID_BASE = 2_000_000_000  # host uid of root inside an image sandbox; 65536 ids from here belong to the image
ID_COUNT = 65536
# AgentBench's default OS image (data/os_interaction/res/dockerfiles/default) plus procps, less, ca-certificates.
PACKAGES = ("python3", "python3-pip", "git", "vim", "curl", "wget", "unzip", "zip", "tree", "procps", "less")
BUILD_HINT = "build it with `make os-image` (root, mmdebstrap and a Debian mirror; about a minute)"


@dataclass(frozen=True)
class Image:
    """A built task image: its root filesystem and its content digest."""

    root: Path
    digest: str


def data_dir() -> Path:
    if env := os.environ.get("AGENTTUNE_DATA_DIR"):
        return Path(env)
    if os.geteuid() == 0:  # world-traversable: the sandbox's setup runs as an unprivileged uid
        return Path("/var/cache/agenttune")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agenttune"


def image_dir() -> Path:
    return data_dir() / "os-image"


def find_image(path: str | Path | None = None) -> Image | None:
    """The image at ``path`` (an image dir or its rootfs), or the built default one; None when the default is absent.

    A ``path`` that is not a built image raises ``SandboxError`` saying how to build one."""
    where = Path(path) if path is not None else image_dir()
    if where.name == "rootfs":
        where = where.parent
    meta = where / "image.json"
    if not meta.is_file() or not (where / "rootfs").is_dir():
        if path is None:
            return None
        raise SandboxError(f"{where} is not a built task image (no image.json and rootfs/); {BUILD_HINT}")
    try:
        digest = json.loads(meta.read_text())["digest"]
    except (OSError, ValueError, KeyError) as error:
        raise SandboxError(f"{meta}: unreadable image metadata ({error}); rebuild it: {BUILD_HINT}") from error
    return Image(where / "rootfs", digest)


SUBID_HINT = (
    f"run as root, or give this user the image's ids: newuidmap and newgidmap (package uidmap) and the line "
    f"USER:{UID_BASE}:{ID_COUNT} in /etc/subuid and /etc/subgid"
)


def id_mapping() -> str:
    """How this process maps the image's 65536 ids into a sandbox: "root" (it writes the maps itself),
    "subid" (the setuid newuidmap/newgidmap, which /etc/subuid and /etc/subgid allow it, as rootless
    containers do), or "" when it cannot (``SUBID_HINT`` says how to make it able)."""
    if os.geteuid() == 0:
        return "root"
    return "subid" if _subids_granted() else ""


@functools.cache
def _subids_granted() -> bool:
    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        return False
    uid = os.getuid()
    try:
        import pwd

        names = {str(uid), pwd.getpwuid(uid).pw_name}
    except KeyError:
        names = {str(uid)}
    return all(_grants(Path(path), names) for path in ("/etc/subuid", "/etc/subgid"))


def _grants(path: Path, names: set[str]) -> bool:
    """Whether ``path`` (/etc/subuid's format: ``name:first:count`` lines) gives one of ``names`` the image's range."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
            first, count = int(parts[1]), int(parts[2])
            if first <= UID_BASE and UID_BASE + ID_COUNT <= first + count:
                return True
    return False


def resolve_image(choice: str = "auto") -> tuple[str | None, str]:
    """A sandbox's image choice -> (the rootfs it mounts, or None for the host's directories; its lineage digest).

    "auto": the built task image when there is one (and we can map its ids: ``id_mapping``), else the host's,
    with a warning (once per process); "host": the host's; anything else is the path of a built image, else a
    ``SandboxError`` that says how to build one.
    """
    if choice == "host":
        return None, "host"
    if choice != "auto":
        image = find_image(choice)
        assert image is not None  # find_image raises for an explicit path that is not an image
        return str(image.root), image.digest
    image = find_image()
    if image is None or not id_mapping():
        why = f"cannot map its ids here ({SUBID_HINT})" if image is not None else f"is not built; {BUILD_HINT}"
        _warn_once(f"the OS task image {why}; sandboxes see the host's /usr, /etc, /var, /opt instead")
        return None, "host"
    return str(image.root), image.digest


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def build_image(
    dest: Path | None = None, *, suite: str | None = None, mirror: str | None = None, packages: tuple[str, ...] = ()
) -> Image:
    """Build the image into ``dest`` (default ``image_dir()``) atomically: a temp dir beside it, then a rename."""
    dest = dest or image_dir()
    if os.geteuid() != 0:
        raise SandboxError(f"building the task image needs root (it owns files as many uids); {BUILD_HINT}")
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise SandboxError("mmdebstrap is not installed: apt-get install mmdebstrap; then " + BUILD_HINT)
    suite = suite or _host_codename()
    wanted = tuple(dict.fromkeys((*PACKAGES, *packages)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(dest.parent, 0o755)
    tmp = Path(tempfile.mkdtemp(prefix=".os-image-", dir=dest.parent))
    try:
        argv = [mmdebstrap, "--variant=apt", "--mode=root", "--include=" + ",".join(wanted), suite]
        argv.append(str(tmp / "rootfs"))
        if mirror:
            argv.append(mirror)
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SandboxError(f"mmdebstrap failed (exit {done.returncode}): {done.stderr[-2000:]}")
        _clean(tmp / "rootfs")
        files = shift_owners(tmp / "rootfs", UID_BASE)
        digest = manifest_digest(tmp / "rootfs", UID_BASE)
        meta = {"digest": digest, "suite": suite, "packages": list(wanted), "files": files, "uid_base": UID_BASE}
        (tmp / "image.json").write_text(json.dumps(meta, indent=1) + "\n")
        os.chmod(tmp, 0o755)
        old = dest.with_name(dest.name + ".old")
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Image(dest / "rootfs", digest)


def shift_owners(root: Path, base: int) -> int:
    """Add ``base`` to every owner under ``root`` (modes restored: chown clears set-id bits); returns the count."""
    count = 0
    for path in _walk(root):
        st = os.lstat(path)
        os.lchown(path, st.st_uid + base, st.st_gid + base)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, stat.S_IMODE(st.st_mode))
        count += 1
    return count


def manifest_digest(root: Path, base: int = UID_BASE) -> str:
    """sha256 over the sorted manifest of ``root``: path, type, mode, owner (less ``base``), content or target."""
    digest = hashlib.sha256()
    for path in sorted(_walk(root)):
        st = os.lstat(path)
        kind = stat.S_IFMT(st.st_mode)
        if stat.S_ISREG(st.st_mode):
            content = _file_sha256(path)
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        else:
            content = ""
        rel = os.path.relpath(path, root)
        line = f"{rel}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0{st.st_uid - base}\0{st.st_gid - base}\0{content}\n"
        digest.update(line.encode("utf-8", "surrogateescape"))
    return "sha256:" + digest.hexdigest()


def _walk(root: Path) -> list[str]:
    found = [str(root)]
    for parent, dirs, files in os.walk(root):
        found += [os.path.join(parent, name) for name in (*dirs, *files)]
    return found


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _clean(root: Path) -> None:
    """Drop what is no part of the machine: device nodes (the sandbox mounts its own /dev) and apt's caches.
    /var/log stays: tasks count and measure it, as on AgentBench's image."""
    for sub in ("dev", "var/cache/apt", "var/lib/apt/lists"):
        target = root / sub
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    (root / "etc/machine-id").write_text("")


def _host_codename() -> str:
    try:
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    except OSError:
        fields = {}
    codename = fields.get("VERSION_CODENAME", "").strip('"')
    return codename if fields.get("ID", "").strip('"') == "debian" and codename else "bookworm"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build or show the OS env's task image.")
    parser.add_argument("command", choices=("build", "show"))
    parser.add_argument("--dest", type=Path, default=None, help=f"image dir (default {image_dir()})")
    parser.add_argument("--suite", default=None, help="Debian suite (default: the host's if Debian, else bookworm)")
    parser.add_argument("--mirror", default=None, help="Debian mirror URL (default: mmdebstrap's)")
    parser.add_argument("--if-missing", action="store_true", help="build: do nothing when the image exists")
    args = parser.parse_args(argv)
    found = find_image(args.dest) if args.dest is None or (args.dest / "image.json").is_file() else None
    if args.command == "show":
        if found is None:
            print(f"no task image at {args.dest or image_dir()}; {BUILD_HINT}")
            return 1
        print(json.dumps({"root": str(found.root), "digest": found.digest}))
        return 0
    if found is not None and args.if_missing:
        print(f"task image present: {found.root} ({found.digest})")
        return 0
    try:
        image = build_image(args.dest, suite=args.suite, mirror=args.mirror)
    except SandboxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"task image built: {image.root} ({image.digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
