"""What the TextAdventure environment says to the agent: the instruction, a one-shot example, feedback texts."""

from __future__ import annotations

from envs.adventure.game import HELP
from envs.textenv import fixed_replies

INSTRUCTION = """\
You are playing a text adventure. You explore a house room by room and type commands to a parser, which answers \
with what happens. Each reply holds one line of reasoning starting with "Thought:", then exactly one line starting \
with "Action:" followed by a single command. {help}
Doors can be locked: unlock a door with its key, then open it, before walking through. Containers must be open \
before you can take things out of them or put things in. You win by completing the task; you have {max_turns} \
commands.

Here is an example from a different house:
Task: Find the silver spoon and put it in the tin box in the study.
-= Porch =-
You are in the porch.
On the floor you see a blue key.
Exits: north (through the blue door, which is locked).
Thought: The way north is locked and the blue key lies here, so I will take it.
Action: take blue key
You take the blue key.
Thought: Now I can unlock the door.
Action: unlock blue door with blue key
You unlock the blue door with the blue key.
Thought: It is unlocked but still closed.
Action: open blue door
You open the blue door.
Thought: The study should be through the door.
Action: go north
-= Study =-
You are in the study.
There is a tin box here. The tin box is closed.
On the floor you see a silver spoon.
Exits: south (through the blue door, which is open).
Thought: The spoon and the box are both here. I will pick up the spoon first.
Action: take spoon
You take the silver spoon.
Thought: The box is closed, so I open it before putting the spoon in.
Action: open tin box
You open the tin box. The tin box is open; in it you see nothing.
Thought: Now the spoon can go in.
Action: put silver spoon in tin box
You put the silver spoon in the tin box.
*** You have completed the task! ***"""

FORMAT_REMINDER = """\
Reply with one "Thought: ..." line and then one action line holding a single command, e.g.
Action: go north"""

WON = "*** You have completed the task! ***"
EPISODE_OVER = "The game is over."


ACKNOWLEDGEMENT = "OK. Tell me about the game."
OPENING_REPLIES = fixed_replies(ACKNOWLEDGEMENT)


def instruction(max_turns: int) -> str:
    return INSTRUCTION.format(help=HELP, max_turns=max_turns)


def game_turn(goal: str, room: str) -> str:
    return f"Now your game.\nTask: {goal}\n{room}"


def first_observation(goal: str, room: str, max_turns: int) -> str:
    return f"{instruction(max_turns)}\n\n{game_turn(goal, room)}"


def invalid_action(reason: str) -> str:
    return f"Invalid action: {reason}\n{FORMAT_REMINDER}"
