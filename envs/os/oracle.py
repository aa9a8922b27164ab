"""The scripted oracle for OS tasks: a pure function of the task and the conversation so far.

First turn: run the task's example solution with ``Act: bash`` (when it has one and the grade depends on
it). Then: a ``match`` task is answered with its gold answer; a task checked against the example's output
(or whose check scripts read the answer) is answered with what the example printed; a task whose checks look
only at the machine ends with ``Act: finish``.
"""

from __future__ import annotations

import re

from envs.base import Task
from envs.os.prompts import NEW_PROBLEM, OPENING_REPLIES
from envs.textenv import after_opening

_OUTPUT = "The output of the OS:\n\n"


def oracle(task: Task, messages: list[dict[str, str]]) -> str:
    payload = task.payload
    example = payload.get("example")
    asked = [m for m in after_opening(messages, OPENING_REPLIES) if m.get("role") == "assistant"]
    if example and "code" in example and not payload.get("match") and not asked:
        code = example["code"].strip()
        if example.get("language", "bash") == "python":
            code = "python3 - <<'AGENTTUNE_EOF'\n" + code + "\nAGENTTUNE_EOF"
        thought = payload.get("oracle_thought", "I will solve this with a shell command.")
        return f"Think: {thought}\n\nAct: bash\n\n```bash\n{code}\n```"
    if payload.get("match"):
        answer = payload["match"].get("answer")
        if answer is not None:
            return f"Think: I know the answer now.\n\nAct: answer({answer})"
    if payload.get("check") and (None in payload["check"] or _reads_answer(payload["check"])):
        output = _last_output(messages)
        return f"Think: The output gives the answer.\n\nAct: answer({output})"
    return "Think: The task is done.\n\nAct: finish"


def _reads_answer(check: list) -> bool:
    """Whether a check script looks at the agent's answer (``$1`` in bash, ``argv[1]`` in python): the task
    then wants the example's output as the answer too ("... and tell me the path"), not just its effect."""
    for script in check:
        code = script.get("code", "") if isinstance(script, dict) else ""
        if script and script.get("language") == "python" and "argv[1]" in code:
            return True
        if script and script.get("language", "bash") == "bash" and re.search(r"\$(\{1\}|1\b|@|\*)", code):
            return True
    return False


def _last_output(messages: list[dict[str, str]]) -> str:
    for message in reversed(messages):
        content = message.get("content", "")
        if message.get("role") == "user" and NEW_PROBLEM not in content:
            return content.removeprefix(_OUTPUT).strip() if content.startswith(_OUTPUT) else ""
    return ""
