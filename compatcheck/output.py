"""Writing what compatcheck produces: reports, baselines, manifests, models.

A file is written beside its target under a temporary name and moved over
it in one step, so a reader never sees half a file and a failed write
leaves the old one in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

from compatcheck.errors import UserError


def refuse_model_data(output: str | None, models) -> None:
    """Refuse to write over a file one of the loaded ``models`` reads.

    A model's own path is refused before loading; its external data files
    are known only once it is loaded.
    """
    if output in (None, "-"):
        return
    target = os.path.realpath(output)
    for model in models:
        for ref in model.external_data:
            if ref.resolved and os.path.realpath(ref.resolved) == target:
                raise UserError(
                    output,
                    f"holds the external data of {model.path}; refusing "
                    "to write over it",
                )


def refuse_read_files(output: str | None, paths: list[str | None]) -> None:
    """The output never replaces a configuration, profile or baseline it read."""
    if output in (None, "-") or not os.path.exists(output):
        return
    for path in paths:
        if path and os.path.exists(path) and os.path.samefile(path, output):
            raise UserError(
                output,
                "is a file compatcheck reads for this run; refusing to overwrite it",
            )


def write_text(text: str, output: str | None, what: str = "the output") -> None:
    """``text`` to standard output (``None`` or ``-``) or to the file ``output``.

    ``what`` names the content in the error raised when it cannot be written.
    Text that is not valid UTF-8 (a file name from the disk) is written with
    backslash escapes, so the output is always valid UTF-8.
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if output in (None, "-"):
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise UserError(
                "standard output", f"cannot be written ({exc.strerror})"
            ) from None
        return
    write_bytes(text.encode("utf-8"), output, what)


def write_bytes(data: bytes, output: str, what: str = "the output") -> None:
    """``data`` to the file ``output``, replaced in one step.

    A pipe or a device (``/dev/stdout``, ``>(command)``) is written into
    directly: nothing can replace it, and its folder may take no files.
    """
    if is_special(output):
        try:
            with open(output, "wb") as sink:
                sink.write(data)
        except OSError as exc:
            raise UserError(output, f"cannot write {what} ({exc.strerror})") from None
        return
    output = os.path.realpath(output)  # through a link: replace its target
    folder = os.path.dirname(output)
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".compatcheck-")
    except OSError as exc:
        raise UserError(output, f"cannot write {what} ({exc.strerror})") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        replace(temporary, output)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UserError(output, f"cannot write {what} ({exc.strerror})") from None
    except BaseException:  # interrupted (a pipe nobody reads blocks): clean up
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def replace(temporary: str, target: str) -> None:
    """Move ``temporary`` over ``target`` with the permissions a new file gets.

    ``mkstemp`` creates files readable by the owner only; a report or a
    model is meant to be read by others as any file the user creates is.
    """
    if is_special(target):
        # A pipe or a device (/dev/null): write into it, as a shell
        # redirection does, and never put a file in its place.
        with open(temporary, "rb") as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
        os.unlink(temporary)
        return
    target = os.path.realpath(target)  # through a link: replace its target
    try:  # a file that exists keeps its permissions (a 0600 model stays 0600)
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        mode = 0o666 & ~mask
    os.chmod(temporary, mode)
    os.replace(temporary, target)


def is_special(path: str) -> bool:
    """Whether ``path`` exists and is not a regular file (a pipe, a device)."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)
