"""What the OS env says, and how it reads the agent's reply (AgentBench's action format, our own wording).

A reply is a thought, then one action: ``Act: bash`` followed by a ```bash code block, ``Act: answer(...)``
or ``Act: finish``. As in AgentBench, the last ``Act:`` line decides, every ```bash block of the reply is
run (joined by blank lines), and an answer is what lies between the first "(" and the last ")".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from envs.textenv import fixed_replies

MAX_OBSERVATION_CHARS = 800  # AgentBench's cap on one command's output
_ACT = re.compile(r"Act:\s*(.+)")
_BASH = re.compile(r"```bash\n(.*?)\n```", re.DOTALL)

INSTRUCTION = """\
You are an assistant working on a Linux (Ubuntu-like) computer for me: I give you a task or a question, you \
work on it with shell commands, and I reply with what the operating system printed. In every turn, first \
think about what to do, then take exactly one of three actions.

1. To run bash code, write:

Think: your reasoning.

Act: bash

```bash
# your bash code
```

2. Once the task is done, write:

Think: your reasoning.

Act: finish

3. Once you know the answer to my question, write:

Think: your reasoning.

Act: answer(the answer, and nothing else, inside these parentheses)

Long outputs are cut short, so when an output is truncated, get what you need with a more specific command. \
Your code must not wait for input from the keyboard. Take only one action per turn."""

ONE_SHOT = [
    {"role": "user", "content": 'How many files are in the directory "/etc"?'},
    {
        "role": "assistant",
        "content": "Think: I should list the files in /etc first.\n\nAct: bash\n\n```bash\nls /etc\n```",
    },
    {
        "role": "user",
        "content": "The output of the OS:\n\nadduser.conf apt bash.bashrc cron.d default group hostname hosts "
        "[truncated because the output is too long]",
    },
    {
        "role": "assistant",
        "content": "Think: The listing was truncated, so I will let the shell count the entries.\n\nAct: bash\n\n"
        "```bash\nls -1 /etc | wc -l\n```",
    },
    {"role": "user", "content": "The output of the OS:\n\n187"},
    {"role": "assistant", "content": "Think: The count is 187.\n\nAct: answer(187)"},
]
OPENING_REPLIES = fixed_replies(None, ONE_SHOT)  # the opening's assistant turns (no acknowledgement in OS)
NEW_PROBLEM = "Now, I will start a new problem in a new OS. My problem is:\n\n"
FORMAT_REMINDER = (
    "Reply with a thought and exactly one action: 'Act: bash' followed by a ```bash code block, "
    "'Act: answer(...)' or 'Act: finish'."
)
EPISODE_OVER = "Your action was recorded; the episode is over."


def first_observation(description: str) -> str:
    """Instruction, the one-shot example as a transcript, then the problem (AgentBench sends these as turns)."""
    example = "\n\n".join(f"{'Me' if m['role'] == 'user' else 'You'}: {m['content']}" for m in ONE_SHOT)
    return f"{INSTRUCTION}\n\nFor example:\n\n{example}\n\n{NEW_PROBLEM}{description}"


def os_output(output: str, *, timed_out: bool = False, timeout_s: float = 0.0) -> str:
    """A command's output as AgentBench shows it: at most 800 characters."""
    if len(output) > MAX_OBSERVATION_CHARS:
        output = output[:780] + "\n[truncated because the output is too long]"
    if timed_out:
        output += f"\n[the command ran past {timeout_s:g} s and was interrupted with Ctrl-C]"
    return f"The output of the OS:\n\n{output}" if output else "The output of the OS is empty."


def invalid_action(reason: str) -> str:
    return f"Invalid action: {reason}\n{FORMAT_REMINDER}"


@dataclass(frozen=True)
class Bash:
    code: str


@dataclass(frozen=True)
class Answer:
    text: str | None  # None for "Act: finish"


@dataclass(frozen=True)
class Invalid:
    reason: str


def parse_action(reply: str) -> Bash | Answer | Invalid:
    acts = _ACT.findall(reply)
    if not acts:
        return Invalid("no 'Act:' line was found.")
    for act in reversed(acts):
        kind = act.strip().lower()
        if kind.startswith("bash"):
            blocks = _BASH.findall(reply)
            if not blocks or not "".join(blocks).strip():
                return Invalid("'Act: bash' must be followed by a non-empty ```bash code block.")
            return Bash("\n\n".join(blocks))
        if kind.startswith("finish"):
            return Answer(None)
        if kind.startswith("answer"):
            content = act.strip()[6:].strip()
            left, right = content.find("("), content.rfind(")")
            if left != -1 and right != -1:
                return Answer(content[left + 1 : right])
    return Invalid(f"unknown action {acts[-1].strip()[:40]!r}; the actions are bash, answer(...) and finish.")
