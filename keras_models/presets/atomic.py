"""Directories written all at once: built under a temporary name, then renamed into place."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_directory(path, prefix=".writing-"):
    """Yields a temporary sibling of `path` to fill; on success it replaces `path` (an existing
    directory is moved away first and removed after), on any error it is removed. An
    interrupted write leaves an earlier directory at `path` intact."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        yield tmp
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=".old" + prefix, dir=parent)
            os.rename(path, os.path.join(old, "previous"))
        os.rename(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_files(directory, files):
    """Writes `{name: bytes or source path}` into `directory`."""
    for name, content in files.items():
        target = os.path.join(directory, name)
        if isinstance(content, bytes):
            with open(target, "wb") as f:
                f.write(content)
        else:
            shutil.copyfile(content, target)
