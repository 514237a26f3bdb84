"""What ``subscribe``/``unsubscribe``/``set_mode`` of the adapter accept, turned into
``(segment, instrument id, code)`` wants, and the symbols ticks are stamped with.

Accepted forms (any of them in a list):

* the numeric API: ``subscribe(1, 2885)`` or ``subscribe(1, 2885, 1502)`` (code, default 1501);
* a name: ``"NSE:RELIANCE"`` (the instrument master, offline), or ``"1:2885"`` / ``"NSECM:2885"``;
* a key: ``(1, 2885)``;
* with ``mode=`` (:class:`~.modes.Mode` or its name) instead of a code: mapped to the code of
  the adapter's API flavour (:func:`~.modes.code_for`).

A name needs an instrument master: the one given to the adapter (``instruments=``), else the
store's cache (``jainam-fsm instruments download``), loaded once on the first name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from jainam_fsm.core.registry import SubscriptionRegistry
from jainam_fsm.instruments.master import InstrumentMaster, parse_key
from jainam_fsm.instruments.modes import Mode, code_for

__all__ = ["Want", "Wants"]

#: ``(segment, instrument id, code)``
Want = tuple[int, int, int]
Key = tuple[int, int]


def _is_key(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


class Wants:
    """Turns the adapter's subscription arguments into wants; remembers each consumer's mode
    per instrument (for :meth:`set_mode`) and the symbol of every named instrument."""

    def __init__(
        self,
        master: InstrumentMaster | None = None,
        loader: Callable[[], InstrumentMaster] | None = None,
    ) -> None:
        self._master = master
        self._loader = loader
        self._lock = threading.Lock()
        #: (segment, id) -> "EXCHANGE:SYMBOL"; read lock-free on the delivery path
        self.symbols: dict[Key, str] = {}
        self._codes: dict[tuple[Hashable, Key], int] = {}

    def master(self) -> InstrumentMaster:
        """The master names are resolved in (loaded on first use)."""
        with self._lock:
            if self._master is None:
                self._master = self._loader() if self._loader is not None else InstrumentMaster()
            return self._master

    def keys(self, instruments: Any) -> list[Key]:
        """The keys of one instrument (name, ``SEG:ID``, key) or of an iterable of them."""
        if _is_key(instruments):
            return [self._known((int(instruments[0]), int(instruments[1])))]
        if isinstance(instruments, str):
            key = parse_key(instruments)
            if key is not None:
                return [self._known(key)]
            record = self.master().lookup(instruments)
            self.symbols[record.key] = record.display
            return [record.key]
        if isinstance(instruments, Iterable):
            return [k for item in instruments for k in self.keys(item)]
        raise TypeError(
            "an instrument is a name ('NSE:RELIANCE'), 'SEG:ID', a (segment, id) key, or a "
            f"list of them; got {type(instruments).__name__}"
        )

    def _known(self, key: Key) -> Key:
        master = self._master
        if master is not None and key not in self.symbols:
            name = master.name_of(*key)
            if name is not None:
                self.symbols[key] = name
        return key

    def expand(
        self,
        instrument: Any,
        instrument_id: int | None,
        code: int | None,
        mode: Mode | str | None,
        *,
        api: str,
    ) -> list[Want]:
        """The wants of one ``subscribe``/``unsubscribe`` call (see the module docstring)."""
        if code is not None and mode is not None:
            raise ValueError("give a code or a mode, not both")
        if isinstance(instrument, int) and not isinstance(instrument, bool):
            if instrument_id is None:
                raise TypeError("subscribe(segment, instrument_id): the instrument id is missing")
            keys = self.keys((int(instrument), int(instrument_id)))
        else:
            if instrument_id is not None:
                raise TypeError("an instrument id goes with a numeric segment only")
            keys = self.keys(instrument)
        resolved = int(code) if code is not None else code_for(mode or Mode.QUOTE, api)
        return [(seg, iid, resolved) for seg, iid in keys]

    def remember(self, consumer: Hashable, wants: Iterable[Want]) -> None:
        """Record the code each instrument is now wanted with by ``consumer``."""
        for seg, iid, code in wants:
            self._codes[(consumer, (seg, iid))] = code

    def forget(self, consumer: Hashable, wants: Iterable[Want]) -> None:
        """Drop the record of wants ``consumer`` gave up."""
        for seg, iid, code in wants:
            if self._codes.get((consumer, (seg, iid))) == code:
                del self._codes[(consumer, (seg, iid))]

    def current(self, consumer: Hashable, key: Key) -> int | None:
        """The code ``consumer`` last subscribed ``key`` with through a mode-aware call."""
        return self._codes.get((consumer, key))

    # -- applied to a registry (the adapter's) ------------------------------------------------

    def add(self, registry: SubscriptionRegistry, consumer: Hashable, wants: list[Want]) -> bool:
        """Add ``wants`` for ``consumer``; True if any is new to the registry."""
        new = False
        for seg, iid, code in wants:
            new = registry.add(seg, iid, code, consumer) or new
        self.remember(consumer, wants)
        return new

    def remove(self, registry: SubscriptionRegistry, consumer: Hashable, wants: list[Want]) -> bool:
        """Drop ``wants`` of ``consumer``; True if any is wanted by nobody any more."""
        gone = False
        for seg, iid, code in wants:
            gone = registry.remove(seg, iid, code, consumer) or gone
        self.forget(consumer, wants)
        return gone

    def switch(self, registry: SubscriptionRegistry, consumer: Hashable, wants: list[Want]) -> bool:
        """``set_mode``: each instrument's previous code of ``consumer`` is replaced by the
        want's code. True if the registry's desired set changed."""
        changed = False
        for seg, iid, code in wants:
            old = self.current(consumer, (seg, iid))
            if old == code:
                continue
            changed = registry.add(seg, iid, code, consumer) or changed
            if old is not None:
                changed = registry.remove(seg, iid, old, consumer) or changed
        self.remember(consumer, wants)
        return changed
