"""Work directories: the copy of a checkout that one sandbox run may modify.

A run may leave anything in its work directory (symlinks to host files,
FIFOs, huge files, mode 000 directories), so the host treats it as hostile
afterwards: `read_result_file` reads one regular file inside it without
following links, and `remove_workdir` deletes it without following links.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
from collections.abc import Collection
from pathlib import Path

from provenfix.jobs.links import TreeListing, unsafe_links
from provenfix.jobs.sandbox.errors import WorkdirError
from provenfix.jobs.sandbox.settings import SANDBOX_GID, SANDBOX_UID


def prepare_workdir(
    src: Path, dst: Path, *, exclude: Collection[str] = (), into_empty: bool = False
) -> Path:
    """Copy the tree `src` to the new directory `dst`, writable by the sandbox user.

    Symlinks are copied as links, never followed, so nothing outside `src` is
    read; links that leave the tree or loop (jobs.links) are left out, so a run
    neither reaches the image's files through one nor collects a test twice;
    FIFOs, sockets and devices are skipped. Names in `exclude` (e.g. ".git") are
    skipped at every level. As root the copy is chowned to uid 10001; otherwise
    it is made world-writable (the engine's user namespace maps nothing, so that
    is the only way uid 10001 can write it). With `into_empty`, `dst` is an existing
    empty directory (a warm container's mounted one, see `clear_workdir`).
    """
    return copy_tree(src, dst, exclude=exclude, for_sandbox=True, into_empty=into_empty)


def copy_tree(
    src: Path,
    dst: Path,
    *,
    exclude: Collection[str] = (),
    for_sandbox: bool = False,
    into_empty: bool = False,
) -> Path:
    """`prepare_workdir`'s copy; without `for_sandbox`, owners and modes stay the caller's
    (the `--sandbox none` runs)."""
    src = Path(src)
    dst = Path(dst)
    if not src.is_dir() or src.is_symlink():
        raise WorkdirError(f"cannot copy {src}: not a directory")
    if into_empty:
        if dst.is_symlink() or not dst.is_dir() or any(dst.iterdir()):
            raise WorkdirError(f"{dst} is not an empty directory")
    elif dst.exists() or dst.is_symlink():
        raise WorkdirError(f"{dst} already exists; pass a new path")
    if Path(os.path.realpath(dst)).is_relative_to(os.path.realpath(src)):
        raise WorkdirError(f"{dst} lies inside {src}")
    as_root = os.geteuid() == 0
    dst.mkdir(parents=True, exist_ok=into_empty)
    if for_sandbox:
        _grant(dst, as_root)
    dirs: set[str] = set()
    links: dict[str, str] = {}
    # An explicit stack, not recursion: a hostile tree can be thousands of levels deep.
    pending = [(src, dst, "")]
    while pending:
        src_dir, dst_dir, relative = pending.pop()
        with os.scandir(src_dir) as entries:
            for entry in entries:
                if entry.name in exclude:
                    continue
                target = dst_dir / entry.name
                path = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_symlink():
                    links[path] = os.readlink(entry.path)
                    os.symlink(links[path], target)
                elif entry.is_dir(follow_symlinks=False):
                    target.mkdir()
                    dirs.add(path)
                    pending.append((Path(entry.path), target, path))
                elif entry.is_file(follow_symlinks=False):
                    shutil.copyfile(entry.path, target, follow_symlinks=False)
                    mode = entry.stat(follow_symlinks=False).st_mode
                    target.chmod(0o755 if mode & stat.S_IXUSR else 0o644)
                else:
                    continue  # FIFO, socket, device: never in a checkout
                if for_sandbox:
                    _grant(target, as_root)
    for path in unsafe_links(TreeListing(frozenset(dirs), links)):
        (dst / path).unlink()
    return dst


def _grant(path: Path, as_root: bool) -> None:
    if path.is_symlink():
        if as_root:
            os.lchown(path, SANDBOX_UID, SANDBOX_GID)
        return
    if as_root:
        os.chown(path, SANDBOX_UID, SANDBOX_GID)
    else:
        mode = path.stat().st_mode
        extra = 0o777 if stat.S_ISDIR(mode) or mode & stat.S_IXUSR else 0o666
        path.chmod(stat.S_IMODE(mode) | extra)


def read_result_file(workdir: Path, relative: str, *, max_bytes: int = 10_000_000) -> bytes:
    """Read a file a run produced (a JUnit or coverage report) without trusting it.

    Refuses paths that leave `workdir`, symlinks anywhere on the way, anything
    but a regular file, and files over `max_bytes`.
    """
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise WorkdirError(f"{relative!r} is not a relative path inside the work directory")
    flags_dir = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    flags_file = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(workdir, flags_dir)
    except OSError as exc:
        raise WorkdirError(f"cannot open work directory {workdir}: {exc}") from exc
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, flags_dir, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], flags_file, dir_fd=fd)
    except OSError as exc:
        os.close(fd)
        if exc.errno == errno.ELOOP or exc.errno == errno.ENOTDIR:
            raise WorkdirError(f"{relative!r} goes through a symlink; refusing it") from exc
        raise WorkdirError(f"cannot open {relative!r} in {workdir}: {exc}") from exc
    os.close(fd)
    with os.fdopen(file_fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise WorkdirError(f"{relative!r} is not a regular file")
        if info.st_size > max_bytes:
            raise WorkdirError(f"{relative!r} is {info.st_size} bytes, over {max_bytes}")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise WorkdirError(f"{relative!r} grew past {max_bytes} bytes")
    return data


def remove_workdir(path: Path) -> None:
    """Delete a work directory a run may have booby-trapped (mode 000 dirs, links, depth)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        raise WorkdirError(f"{path} is not a directory; refusing to delete it")
    if os.geteuid() != 0:
        _open_up(path)
    try:
        shutil.rmtree(path)
    except RecursionError:
        # Deeper than Python's recursion limit: coreutils rm walks it iteratively.
        done = subprocess.run(
            ["rm", "-rf", "--one-file-system", "--", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise WorkdirError(f"cannot remove {path}: {done.stderr.strip()}") from None
    except OSError as exc:
        raise WorkdirError(f"cannot remove {path}: {exc}") from exc


def clear_workdir(path: Path) -> None:
    """Empty a work directory a run used, keeping the directory itself (a warm container
    has it mounted): every entry is deleted as `remove_workdir` deletes, links unfollowed,
    and the directory is made the sandbox's again, whatever mode the run left it in."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        raise WorkdirError(f"{path} is not a directory; refusing to empty it")
    if os.geteuid() != 0:
        path.chmod(0o777)
    for entry in list(os.scandir(path)):
        if entry.is_dir(follow_symlinks=False):
            remove_workdir(Path(entry.path))
        else:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise WorkdirError(f"cannot remove {entry.path}: {exc}") from exc
    if any(path.iterdir()):
        raise WorkdirError(f"{path} could not be emptied")
    _grant(path, os.geteuid() == 0)
    if os.geteuid() == 0:
        path.chmod(0o755)


def _open_up(top: Path) -> None:
    """Give the owner rwx on every directory (a run may have chmodded some to 000)."""
    pending = [top]
    while pending:
        directory = pending.pop()
        with contextlib.suppress(OSError):
            directory.chmod(0o700)
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            pending.extend(
                Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False)
            )
