"""Each agent's widget questions of the UTC day: in all, and per client address and network, so none uses it up."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from appliance.errors import DailyShareUsedUp

WHOLE_DAY = ""                  # the key of the agent's own count, beside those of addresses and networks
_FORGET_AFTER_KEYS = 200_000    # past this, addresses' and networks' counts are dropped: they load again when needed


@dataclass(frozen=True)
class Share:
    """One count a question goes under: the key (WHOLE_DAY, or a keyed hash of an address or network), how many
    questions it may take today, and what the visitor is told once it has."""

    key: str
    limit: int
    scope: str                  # agent, address or network
    message: str


class DailyShares:
    """Counts in this process's memory, each started from what the workspace database holds for the day (so a
    restart resets nothing); a question is counted under all of its shares at once, or under none."""

    def __init__(self, *, forget_after: int = _FORGET_AFTER_KEYS) -> None:
        self._day: dict[str, str] = {}                    # agent -> the day its counts are of
        self._counts: dict[tuple[str, str], int] = {}
        self._forget_after = forget_after
        self._lock = threading.Lock()

    def take(self, agent_id: str, *, day: str, shares: Sequence[Share], already: Callable[[str], int],
             retry_after_seconds: int) -> int:
        """Count one question under every share and return the agent's count of the day; if any share is used up,
        count nothing and raise DailyShareUsedUp naming the first (in the order given)."""
        with self._lock:
            if self._day.get(agent_id) != day:
                for key in [k for k in self._counts if k[0] == agent_id]:
                    del self._counts[key]
                self._day[agent_id] = day
            for share in shares:
                count = self._counts.get((agent_id, share.key))
                if count is None:
                    count = self._counts[(agent_id, share.key)] = already(share.key)
                if count >= share.limit:
                    raise DailyShareUsedUp(share.message, retry_after_seconds=retry_after_seconds,
                                           scope=share.scope)
            for share in shares:
                self._counts[(agent_id, share.key)] += 1
            total = self._counts.get((agent_id, WHOLE_DAY), 0)
            if len(self._counts) > self._forget_after:
                self._counts = {k: v for k, v in self._counts.items() if k[1] == WHOLE_DAY}
            return total

    def give_back(self, agent_id: str, *, day: str, shares: Sequence[Share]) -> None:
        """Uncount a question that was taken but not asked after all (it was refused as invalid)."""
        with self._lock:
            if self._day.get(agent_id) != day:
                return
            for share in shares:
                key = (agent_id, share.key)
                if self._counts.get(key, 0) > 0:
                    self._counts[key] -= 1
