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
    """``data`` to the file ``output``, replaced in one step."""
    folder = os.path.dirname(os.path.abspath(output))
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
    if os.path.exists(target) and not os.path.isfile(target):
        # A pipe or a device (/dev/null): write into it, as a shell
        # redirection does, and never put a file in its place.
        with open(temporary, "rb") as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
        os.unlink(temporary)
        return
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(temporary, 0o666 & ~mask)
    os.replace(temporary, target)
