"""Watching ``fizzlightning serve``'s inference worker: a worker that dies stops the server with one line.

LitServe (0.2.19) runs the network in a spawned inference worker. When that process dies (the kernel's
out-of-memory killer sends SIGKILL; a crash in native code), LitServe's own monitor thread shuts the server
down from that thread, ``multiprocessing.Manager`` included, while the main thread still waits on an Event of
that manager: the command ends with an ``EOFError`` traceback and the second half of a shutdown. Its other
choice, ``LitServer(restart_workers=True)``, restarts the worker silently, every time, with the requests in
flight failed: a worker that the OOM killer took would be taken again, and nothing would say so.

So LitServe's monitor is off, and ``WorkerWatch`` watches instead. On a worker's death it records how the
worker ended and sends SIGTERM to the main thread, whose handler stops the server by LitServe's one shutdown, the
one of Ctrl-C (waiting ``FLUSH_SECONDS``, not 30 s, for requests in flight: they get no answer; their connections
close). ``serve.main`` then raises ``RunError(watch.death)``: one line, exit 1, and a port free for whoever
restarts the command.
"""

import logging
import os
import signal
import threading
import time
from typing import Any

from fizzlightning.internals import without_worker_monitor

POLL_SECONDS = 0.2
# After a death, LitServe's wait for the HTTP process to finish its requests (``LitServer.uvicorn_graceful_timeout``,
# 30 s, read when it shuts down): a request in flight to a dead worker never gets an answer, so 30 s of waiting
# would only keep a supervisor from restarting the command. Ctrl-C and SIGTERM keep the 30 s.
FLUSH_SECONDS = 1.0


def how_it_ended(exitcode: int) -> str:
    """``multiprocessing.Process.exitcode`` in words: negative is the number of the signal that ended it."""
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"was killed by signal {-exitcode}"
    if -exitcode == signal.SIGKILL:
        return "was killed by SIGKILL, often the out-of-memory killer (the kernel log, `dmesg`, says if it was)"
    return f"was killed by {name} ({signal.strsignal(-exitcode)})"


class WorkerWatch:
    """Polls ``server.inference_workers`` from a daemon thread until ``stop()``; ``death`` says how one died.

    ``stopping`` is a plain flag, set by ``stop()`` from the signal handler too (no lock a handler could wait
    on). A worker's end counts only if it ended before the server began stopping: its exit code is read first,
    the flag after. Exit code 0 is LitServe's own doing (a setup that failed, which LitServe reports, or a
    shutdown): only a signal or another code is a death.

    Ctrl-C and SIGTERM stop the server by LitServer's own shutdown, which runs on KeyboardInterrupt. Without it
    SIGTERM would end this process alone, and its HTTP and inference processes would keep the port. The HTTP
    processes are forks that inherit the handler: there a signal keeps its default meaning.
    """

    def __init__(self, server: Any, again: str) -> None:
        self.server, self.again = server, again  # again: the command to run to serve again
        self.death: str | None = None
        self.stopping = False
        self.pid = os.getpid()
        without_worker_monitor(server)
        logging.getLogger("litserve.server").addFilter(self._quiet)
        for each in (signal.SIGINT, signal.SIGTERM):
            signal.signal(each, self._on_signal)
        threading.Thread(target=self._watch, name="fizzlightning-worker-watch", daemon=True).start()

    def stop(self) -> None:
        """The server stops for another reason: a worker's end from now on is part of the shutdown."""
        self.stopping = True

    def close(self) -> None:
        """After ``LitServer.run``: stop watching, and leave LitServe's logger as it was."""
        self.stop()
        logging.getLogger("litserve.server").removeFilter(self._quiet)

    def _quiet(self, record: logging.LogRecord) -> bool:
        """Drops LitServe's "KeyboardInterrupt received" when the stop was the watch's: no key was pressed."""
        return self.death is None or not record.getMessage().startswith("KeyboardInterrupt received")

    def _on_signal(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:
            signal.signal(signum, signal.SIG_DFL)
            return os.kill(os.getpid(), signum)
        for each in (signal.SIGINT, signal.SIGTERM):  # one shutdown: a second signal would break it in two
            signal.signal(each, signal.SIG_IGN)
        self.stop()
        raise KeyboardInterrupt

    def _watch(self) -> None:
        while not self.stopping:
            for worker in list(getattr(self.server, "inference_workers", [])):  # set by LitServer.run
                code = worker.exitcode
                if code in (None, 0) or self.stopping:
                    continue
                oom = code == -signal.SIGKILL
                advice = "Free some memory or lower --max-batch-size, then serve again" if oom else "Serve again"
                ended = f"its inference worker (pid {worker.pid}) {how_it_ended(code)}"
                self.death = f"The server stopped: {ended}. {advice}: `{self.again}`."
                self.stopping = True
                self.server.uvicorn_graceful_timeout = FLUSH_SECONDS
                signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
                return
            time.sleep(POLL_SECONDS)
