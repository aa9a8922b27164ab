"""The BFS planner behind the TextAdventure oracle: the shortest command list that wins a game.

    commands = plan(task.payload)      # ["take brass key", "go north", "unlock brass door with brass key", ...]

It searches the game's real engine (``game.Game``), so a plan that wins here wins in the
env. To keep the search small it only considers moves that can matter: walking, taking
keys and the goal item, opening the containers that hold them (or are the goal),
unlocking and opening doors, and putting the goal item away.
"""

from __future__ import annotations

import json
from collections import deque
from functools import lru_cache
from typing import Any

from envs.adventure.game import INVENTORY, Game

MAX_STATES = 200_000  # far above what a generated house needs; guards hand-made payloads


def plan(payload: dict[str, Any]) -> list[str] | None:
    """The shortest winning command list, or None when the game cannot be won."""
    found = _plan(json.dumps(payload, sort_keys=True))
    return list(found) if found is not None else None


@lru_cache(maxsize=4096)  # the oracle asks once per turn; a payload's plan never changes
def _plan(payload_json: str) -> tuple[str, ...] | None:
    start = Game(json.loads(payload_json))
    wanted = {start.goal_item, *start.door_keys.values()}
    seen = {start.snapshot()}
    queue: deque[tuple[Game, tuple[str, ...]]] = deque([(start, ())])
    while queue and len(seen) < MAX_STATES:
        game, commands = queue.popleft()
        for command in _moves(game, wanted):
            after = game.copy()
            after.run(command)
            if after.won:
                return (*commands, command)
            if (state := after.snapshot()) not in seen:
                seen.add(state)
                queue.append((after, (*commands, command)))
    return None


def _moves(game: Game, wanted: set[str]) -> list[str]:
    moves = [f"go {direction}" for direction in game.exits[game.room]]
    here = [name for name, room in game.containers.items() if room == game.room]
    for item in sorted(wanted):
        at = game.where.get(item)
        if at == game.room or (at in here and at in game.opened):
            moves.append(f"take {item}")
        elif at in here and at not in game.opened:
            moves.append(f"open {at}")
    if game.goal_container in here and game.goal_container not in game.opened:
        moves.append(f"open {game.goal_container}")
    for other in game.exits[game.room].values():
        door = game.door_at.get(frozenset((game.room, other)))
        if door is not None and game.doors[door] == "locked" and game.where.get(game.door_keys[door]) == INVENTORY:
            moves.append(f"unlock {door} with {game.door_keys[door]}")
        elif door is not None and game.doors[door] == "closed":
            moves.append(f"open {door}")
    if game.where.get(game.goal_item) == INVENTORY and game.goal_container in here:
        moves.append(f"put {game.goal_item} in {game.goal_container}")
    return list(dict.fromkeys(moves))
