"""ESP-IDF's event loop (``esp_event``): :class:`EspEventLoop`.

Events are posted with a base (a string, ``IP_EVENT``), an id and a payload, and delivered to the handlers registered
for them: ``handler(arg, event_base, event_id, event_data)``, as ``esp_event_handler_register`` /
``esp_event_handler_instance_register`` call them.  For one event the handlers run in ESP-IDF's order: those of every
base (``ESP_EVENT_ANY_BASE``), then those of the base for any id (``ESP_EVENT_ANY_ID``), then those of the id, each
group in the order of registration.

Where handlers run:

- ``EspEventLoop()`` (``task=True``, like the default loop's ``sys_evt`` task): on the loop's own thread, so a
  handler may block and may call the esp_netif API (which posts to the core thread and waits);
- ``EspEventLoop(task=False)`` (a loop created without a task, ``esp_event_loop_run``): queued until a thread calls
  :meth:`EspEventLoop.run`, which delivers them on that thread.  In a :class:`~lwipy.sim.Simulation`,
  ``sim.add_driver(loop)`` does it as virtual time runs (events are delivered at the virtual time they were posted).

The queue holds ``queue_size`` events (``CONFIG_ESP_SYSTEM_EVENT_QUEUE_SIZE``, 32).  esp_netif posts from the core
thread with a zero timeout, as ESP-IDF does: an event that finds the queue full is dropped, logged and counted in
:attr:`EspEventLoop.dropped`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ESP_ERR_INVALID_ARG, ESP_ERR_INVALID_STATE, ESP_ERR_TIMEOUT

__all__ = ["EspEventLoop", "EventHandlerInstance", "ESP_EVENT_ANY_BASE", "ESP_EVENT_ANY_ID"]

log = logging.getLogger("lwipy")

#: ``ESP_EVENT_ANY_BASE``: a handler for every base
ESP_EVENT_ANY_BASE: str | None = None
#: ``ESP_EVENT_ANY_ID``: a handler for every id of a base
ESP_EVENT_ANY_ID = -1

Handler = Callable[[Any, str, int, Any], None]


@dataclass(eq=False)
class EventHandlerInstance:
    """``esp_event_handler_instance_t``: what :meth:`EspEventLoop.handler_register` returns."""

    loop: "EspEventLoop"
    base: str | None
    event_id: int
    handler: Handler
    arg: Any

    def unregister(self) -> None:
        """``esp_event_handler_instance_unregister``."""
        self.loop.handler_instance_unregister(self)


class EspEventLoop:
    """An ``esp_event`` loop; see the module's documentation."""

    def __init__(self, *, task: bool = True, queue_size: int = 32, name: str = "sys_evt") -> None:
        if queue_size < 1:
            raise ESP_ERR_INVALID_ARG("queue_size must be at least 1")
        self.queue_size = queue_size
        self.name = name
        self.task = task
        #: events dropped because the queue was full when they were posted without waiting
        self.dropped = 0
        #: events delivered so far
        self.delivered = 0
        self._handlers: list[EventHandlerInstance] = []
        self._queue: deque[tuple[str, int, Any]] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._deleted = False
        self._idle = True
        self._thread: threading.Thread | None = None
        if task:
            self._thread = threading.Thread(target=self._task, name=name, daemon=True)
            self._thread.start()

    # -- registration ------------------------------------------------------------------------------------------------
    def handler_register(self, event_base: str | None, event_id: int, handler: Handler,
                         arg: Any = None) -> EventHandlerInstance:
        """``esp_event_handler_instance_register``: call ``handler(arg, base, id, data)`` for every event of
        ``event_base`` (``ESP_EVENT_ANY_BASE``: all) with ``event_id`` (``ESP_EVENT_ANY_ID``: all)."""
        if event_base is None and event_id != ESP_EVENT_ANY_ID:
            raise ESP_ERR_INVALID_ARG("ESP_EVENT_ANY_BASE goes with ESP_EVENT_ANY_ID")
        if not callable(handler):
            raise ESP_ERR_INVALID_ARG(f"{handler!r} is not callable")
        instance = EventHandlerInstance(self, event_base, int(event_id), handler, arg)
        with self._lock:
            self._handlers.append(instance)
        return instance

    def handler_unregister(self, event_base: str | None, event_id: int, handler: Handler) -> None:
        """``esp_event_handler_unregister``: the registrations of ``handler`` for this base and id go."""
        with self._lock:
            self._handlers = [h for h in self._handlers if not (
                h.base == event_base and h.event_id == int(event_id) and h.handler == handler)]

    def handler_instance_unregister(self, instance: EventHandlerInstance) -> None:
        """``esp_event_handler_instance_unregister``."""
        with self._lock:
            self._handlers = [h for h in self._handlers if h is not instance]

    # -- posting -----------------------------------------------------------------------------------------------------
    def post(self, event_base: str, event_id: int, event_data: Any = None, timeout: float | None = 0.0) -> None:
        """``esp_event_post_to``: queue an event.  When the queue is full, wait up to ``timeout`` seconds (None:
        for ever) for room, then raise :class:`~lwipy.esp_netif.errors.ESP_ERR_TIMEOUT`."""
        with self._lock:
            if self._deleted:
                raise ESP_ERR_INVALID_STATE(f"event loop {self.name} is deleted")
            if len(self._queue) >= self.queue_size:
                if not timeout and timeout is not None:
                    raise ESP_ERR_TIMEOUT(f"event loop {self.name}: queue of {self.queue_size} full")
                if not self._changed.wait_for(lambda: len(self._queue) < self.queue_size or self._deleted,
                                              timeout):
                    raise ESP_ERR_TIMEOUT(f"event loop {self.name}: queue of {self.queue_size} full")
            self._queue.append((event_base, int(event_id), event_data))
            self._idle = False
            self._changed.notify_all()

    def post_from_core(self, event_base: str, event_id: int, event_data: Any = None) -> bool:
        """Post without waiting, as esp_netif does from the tcpip thread; a full queue drops the event (logged and
        counted in :attr:`dropped`).  Returns whether it was queued."""
        try:
            self.post(event_base, event_id, event_data, 0.0)
            return True
        except (ESP_ERR_TIMEOUT, ESP_ERR_INVALID_STATE) as e:
            self.dropped += 1
            log.error("failed to post %s:%d: %s", event_base, event_id, e)
            return False

    # -- delivery ----------------------------------------------------------------------------------------------------
    def run(self, timeout: float = 0.0) -> int:
        """``esp_event_loop_run`` (a loop without a task): deliver the queued events on the calling thread, waiting
        up to ``timeout`` seconds for the first one.  Returns how many were delivered."""
        if self.task:
            raise ESP_ERR_INVALID_STATE("this loop has its own task; run() is for a loop made with task=False")
        count = 0
        with self._lock:
            if not self._queue and timeout > 0:
                self._changed.wait_for(lambda: bool(self._queue) or self._deleted, timeout)
        while True:
            with self._lock:
                if not self._queue:
                    self._idle = True
                    self._changed.notify_all()
                    return count
                event = self._queue.popleft()
                self._changed.notify_all()
            self._dispatch(*event)
            count += 1

    def pending(self) -> int:
        """Events queued and not yet delivered."""
        with self._lock:
            return len(self._queue)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every event posted so far has been delivered (for a loop with a task)."""
        with self._lock:
            return self._changed.wait_for(lambda: self._idle and not self._queue, timeout)

    # a Simulation driver (see Simulation.add_driver): deliver what is queued at the current virtual time
    def poll(self, now: float) -> bool:
        return not self.task and self.run() > 0

    def poll_at(self) -> float | None:
        return float("-inf") if not self.task and self._queue else None

    def delete(self) -> None:
        """``esp_event_loop_delete``: stop the task (events still queued are dropped)."""
        with self._lock:
            self._deleted = True
            self._queue.clear()
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _task(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._deleted:
                    self._idle = True
                    self._changed.notify_all()
                    self._changed.wait()
                if self._deleted:
                    return
                event = self._queue.popleft()
                self._changed.notify_all()
            self._dispatch(*event)

    def _dispatch(self, base: str, event_id: int, data: Any) -> None:
        with self._lock:
            handlers = list(self._handlers)
        ordered = ([h for h in handlers if h.base is None] +
                   [h for h in handlers if h.base == base and h.event_id == ESP_EVENT_ANY_ID] +
                   [h for h in handlers if h.base == base and h.event_id == event_id])
        for h in ordered:
            try:
                h.handler(h.arg, base, event_id, data)
            except Exception:
                log.exception("%s: a handler of %s:%d raised", self.name, base, event_id)
        self.delivered += 1

    def __repr__(self) -> str:
        return f"<EspEventLoop {self.name} {'task' if self.task else 'run()'} {len(self._queue)} queued>"
