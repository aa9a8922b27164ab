"""``agenttune/OS-v0``: work on a Linux machine through bash, graded as AgentBench's OS Interaction grades.

    import envs, gymnasium
    with gymnasium.make("agenttune/OS-v0", split="test") as env:
        obs, info = env.reset(seed=3)                                  # a generated task, in a fresh sandbox
        obs, info = env.reset(options={"task": task})                  # or any Task, e.g. from load_os_tasks
        obs, reward, terminated, truncated, info = env.step("Think: ...\\n\\nAct: bash\\n\\n```bash\\nls\\n```")

Each episode gets a fresh sandbox (``envs.sandbox``), started at ``reset`` and closed at the next reset or at
``close``; the task's init scripts run as independent processes and its ``start`` script in the agent's shell,
as in AgentBench. ``Act: bash`` runs the code in that shell (output capped at 800 characters; a command past
``command_timeout_s`` is interrupted, and that is an observation with ``info["timed_out"]``); ``Act: answer``
or ``Act: finish`` ends the episode with reward 1.0 or 0.0. A malformed reply is an observation with
``info["invalid_action"]``. A sandbox fault raises ``envs.errors.EnvError`` (the episode becomes env_error).
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.os import checkers, prompts
from envs.os.generator import SPLIT_SEED_BASE, SPLIT_SIZE, generate_task
from envs.os.tasks import ENV_ID, load_os_tasks, payload_problems
from envs.sandbox import SANDBOX_KINDS, SandboxConfig, make_sandbox
from envs.spaces import UnicodeText
from envs.textenv import WHERE, given_task

MAX_TURNS = 8  # AgentBench's round_limit
MAX_TEXT_CHARS = 100_000
SETUP_TIMEOUT_S = 60.0


class OSEnv(gymnasium.Env[str, str]):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        split: Split = "train",
        max_turns: int = MAX_TURNS,
        sandbox: str = "bwrap",
        command_timeout_s: float = 10.0,
        scripts_dir: str | None = None,
        sandbox_config: SandboxConfig | None = None,
    ) -> None:
        if split not in SPLIT_SEED_BASE:
            raise EnvsError(f"{ENV_ID}: split must be one of {sorted(SPLIT_SEED_BASE)}, got {split!r}")
        if max_turns < 1 or command_timeout_s <= 0:
            raise EnvsError(f"{ENV_ID}: max_turns and command_timeout_s must be positive")
        if sandbox not in SANDBOX_KINDS:
            raise EnvsError(f"{ENV_ID}: sandbox must be one of {SANDBOX_KINDS}, got {sandbox!r}")
        self.split, self.max_turns, self.sandbox_kind, self.scripts_dir = split, max_turns, sandbox, scripts_dir
        self.sandbox_config = sandbox_config or SandboxConfig(command_timeout_s=command_timeout_s)
        self.observation_space = UnicodeText(MAX_TEXT_CHARS, min_length=1)
        self.action_space = UnicodeText(MAX_TEXT_CHARS)
        self._task: Task | None = None
        self._box = None
        self._turn = 0
        self._done = False

    @property
    def task(self) -> Task | None:
        return self._task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task = self._choose_task(seed, options or {})
        self._close_box()
        self._task, self._turn, self._done = task, 0, False
        self._box = make_sandbox(self.sandbox_kind, self.sandbox_config).start()
        for script in task.payload["init"]:
            self._box.run_script(script["code"], language=script.get("language", "bash"), timeout_s=SETUP_TIMEOUT_S)
        if task.payload.get("start"):
            self._box.run(task.payload["start"]["code"], timeout_s=SETUP_TIMEOUT_S)
        description = task.payload["description"]
        info = {
            "task_id": task.task_id,
            "task": task,
            "turn": 0,
            "invalid_action": False,
            "instruction": prompts.INSTRUCTION,
            "one_shot": prompts.ONE_SHOT,
            "question": prompts.NEW_PROBLEM + description,
            "sandbox": self._box.kind,
            "cgroup": self._box.cgroup,
        }
        return prompts.first_observation(description), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or self._box is None:
            raise EnvsError(f"{ENV_ID}: call reset() before step()")
        if self._done:
            raise EnvsError(f"{ENV_ID}: the episode of task {self._task.task_id} is over; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"task_id": self._task.task_id, "turn": self._turn, "invalid_action": False}
        parsed = prompts.parse_action(action) if isinstance(action, str) else prompts.Invalid("text expected.")
        reward, terminated = 0.0, False
        if isinstance(parsed, prompts.Invalid):
            observation = prompts.invalid_action(parsed.reason)
            info["invalid_action"] = True
        elif isinstance(parsed, prompts.Bash):
            result = self._box.run(parsed.code)
            info.update(exit_code=result.exit_code, timed_out=result.timed_out, output_truncated=result.truncated)
            info["shell_restarted"] = result.shell_restarted
            timeout = self.sandbox_config.command_timeout_s
            observation = prompts.os_output(result.output, timed_out=result.timed_out, timeout_s=timeout)
        else:
            info["answer"] = parsed.text
            reward, terminated = (1.0 if self._grade(parsed.text, info) else 0.0), True
            observation = prompts.EPISODE_OVER
        truncated = not terminated and self._turn >= self.max_turns
        if truncated:
            info["success"] = False
        self._done = terminated or truncated
        if self._done:
            self._close_box()  # nothing the agent started outlives its episode
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self._close_box()
        super().close()

    # ------------------------------------------------------------------------------------------------ helpers

    def _grade(self, answer: str | None, info: dict[str, Any]) -> bool:
        """AgentBench's judge: compare with ``match``, or run the ``check`` chain (each step must exit 0)."""
        assert self._task is not None and self._box is not None  # checked by step()
        payload = self._task.payload
        if payload["match"]:
            match = payload["match"]
            if isinstance(answer, str) and match.get("strip", True):
                answer = answer.strip()
            if "answer" in match:
                success = answer == match["answer"]
            else:
                success = answer is not None and re.search(match["regex"], answer) is not None
        else:
            params = [str(answer)]
            success = True
            for script in payload["check"]:
                script = payload["example"] if script is None else script
                if "builtin" in script:
                    ok, output = checkers.CHECKERS[script["builtin"]](*params[:2]), ""
                else:
                    language = script.get("language", "bash")
                    result = self._box.run_script(script["code"], tuple(params), language=language,
                                                  timeout_s=SETUP_TIMEOUT_S)  # fmt: skip
                    ok, output = result.exit_code == 0, result.output
                if not ok:
                    success = False
                    break
                params.append(output)
            info["check_params"] = params
        info["success"] = success
        return success

    def _choose_task(self, seed: int | None, options: dict[str, Any]) -> Task:
        given = options.get("task")
        if given is None:
            index = seed % SPLIT_SIZE if seed is not None else int(self.np_random.integers(SPLIT_SIZE))
            return generate_task(self.split, index)
        task = given_task(given, ENV_ID, payload_problems)
        if missing := task.payload.get("missing_scripts"):
            raise TaskFormatError(
                WHERE, f"task {task.task_id} needs script files {missing}; pass scripts_dir= to load_os_tasks"
            )
        return task

    def _close_box(self) -> None:
        if self._box is not None:
            self._box.close()
            self._box = None


__all__ = ["MAX_TURNS", "OSEnv", "load_os_tasks"]
