"""Start a private Ray on a background thread while the driver loads the data and opens the database.

Starting Ray on this machine takes seconds (2.6 s on the 2-core CPU, more under load:
docs/benchmarks.md, "Search overhead"); the driver's own start-up (torch, the dataset, the
database) takes about as long, and neither needs the other. So `Search` starts a private local
Ray early (`RayBoot.start`) and waits for it only where it builds the Ray executor (`wait`). A
search that ends before it needs Ray (a refused option, a spent budget, an error) stops the Ray
it started (`settle`). Only the private local Ray is started early: `--address` connects to a
running cluster, which is quick, and its checks stay where they were.

The thread imports only `ray` and `workers.ray_executor`, which load no torch, so it never
imports a module the main thread is importing at the same time. It stays alive (idle) for as long
as the process does: Ray ties the life of the processes it starts (GCS, raylet) to the *thread*
that started them (Linux's parent-death signal), so a thread that ended would take Ray with it.
"""

from __future__ import annotations

import logging
import threading

#: Ray's note when `ray.init` runs off the main thread (the driver takes SIGTERM itself anyway).
_OFF_MAIN_THREAD = "SIGTERM handler is not set because current thread is not the main thread"


class _DropOffMainThreadNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _OFF_MAIN_THREAD not in record.getMessage()


class RayBoot:
    """A private local Ray being started on a background thread (or nothing: `RayBoot()`)."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._used = False
        self._ready = threading.Event()  # Ray is up, or failed to start
        self._hold = threading.Event()  # set to let the thread end: only once Ray is stopped

    @classmethod
    def start(cls) -> RayBoot:
        boot = cls()
        boot._thread = threading.Thread(target=boot._boot, name="nas-ray-boot", daemon=True)
        boot._thread.start()
        return boot

    def _boot(self) -> None:
        logger = logging.getLogger("ray._private.worker")
        quiet = _DropOffMainThreadNote()
        logger.addFilter(quiet)
        try:
            from workers.ray_executor import init_ray

            init_ray(None)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread by `wait`
            self._error = e
        finally:
            logger.removeFilter(quiet)
            self._ready.set()
        self._hold.wait()  # Ray's processes live as long as this thread (see the module docstring)

    def wait(self) -> None:
        """Block until Ray is up (at once when nothing was started); re-raise what failed."""
        if self._thread is None:
            return
        self._ready.wait()
        self._used = True
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def settle(self) -> None:
        """After the search: stop a Ray that was started here and never used."""
        if self._thread is None or self._used:
            return
        self._ready.wait()
        self._thread = None
        import ray

        if ray.is_initialized():
            ray.shutdown()
        self._hold.set()
