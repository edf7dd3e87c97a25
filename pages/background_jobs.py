"""Dataset jobs the Datasets page starts, each run by a thread of the server (``explainers.batch.job.run_job``).

The jobs are the server's, not a session's: a page switch or a reload finds its job where it is (the session keeps
only the job's id), and the page shows its progress while the rest of the app stays usable. One job runs at a time
(a job's Ray workers take every core); Cancel stops it between batches, and what was written stays (a rerun of the
same job resumes).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st

log = logging.getLogger("lumen")


@dataclass
class Job:
    id: str
    label: str  # what it explains, in words
    out: str  # its result directory
    cancel: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    summary: Any = None  # run_job's JobSummary once it ends
    error: BaseException | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = int(done), int(total)


@st.cache_resource(show_spinner=False)
def _jobs() -> dict[str, Job]:
    return {}


def running_job() -> Job | None:
    """The job that runs now on this server, if any."""
    return next((j for j in _jobs().values() if j.running), None)


def get(job_id: str | None) -> Job | None:
    return _jobs().get(job_id) if job_id else None


def start(label: str, out: str, run: Callable[[Callable, threading.Event], Any]) -> Job:
    """Start ``run(progress, cancel)`` in a thread as a job writing to ``out``; a ``RuntimeError`` with a sentence
    when another job runs."""
    other = running_job()
    if other is not None:
        raise RuntimeError(f"A job runs already on this server ({other.label}); wait for it or cancel it first.")
    job = Job(uuid.uuid4().hex[:12], label, out)

    def work() -> None:
        try:
            job.summary = run(job.progress, job.cancel)
        except BaseException as exc:  # noqa: BLE001 - kept for the page to say
            if not isinstance(exc, Exception):
                log.exception("dataset job stopped")
            job.error = exc
        finally:
            job.finished = time.time()

    job.thread = threading.Thread(target=work, name=f"lumen-job-{job.id}", daemon=True)
    _jobs()[job.id] = job
    job.thread.start()
    return job
