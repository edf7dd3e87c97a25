"""Forbid every way of opening a file for writing, for tests that prove a reader writes nothing."""

import builtins
import io
import os


def forbid_writes(monkeypatch) -> None:
    """From now until the test ends, opening any file for writing fails the test with the file's name."""
    real_open, real_os_open = builtins.open, os.open

    def no_write_open(file, mode="r", *args, **kwargs):
        assert not set(mode) & set("wax+"), f"opened {file!r} for writing"
        return real_open(file, mode, *args, **kwargs)

    def no_write_os_open(path, flags, *args, **kwargs):
        assert not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT), f"opened {path!r} for writing"
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_write_open)
    monkeypatch.setattr(io, "open", no_write_open)
    monkeypatch.setattr(os, "open", no_write_os_open)
