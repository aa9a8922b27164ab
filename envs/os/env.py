"""``agenttune/OS-v0``: work on a Linux machine through bash, graded as AgentBench's OS Interaction grades.

    import envs, gymnasium
    with gymnasium.make("agenttune/OS-v0", split="test") as env:
        obs, info = env.reset(seed=3)                                  # a generated task, in a fresh sandbox
        obs, info = env.reset(options={"task": task})                  # or any Task, e.g. from load_os_tasks
        obs, reward, terminated, truncated, info = env.step("Think: ...\\n\\nAct: bash\\n\\n```bash\\nls\\n```")

Each episode gets a fresh sandbox (``envs.sandbox``), never used before: ``warm_sandboxes`` of them are started
ahead on a background thread (``envs.sandbox.warm``), so ``reset`` need not wait for one, and each is closed
in the background when its episode ends. The machine the agent sees is the task image (``sandbox_image``:
"auto", the image ``make os-image`` builds, when present; "host": the host's directories; or an image's path),
recorded in reset's ``info["lineage"]["sandbox_image"]`` (its digest, or "host"). A task whose payload says
``not_runnable`` (e.g. it needs the network) is refused with a ``TaskFormatError``.
The task's init scripts run as independent processes and its ``start`` script in the agent's shell,
as in AgentBench. ``Act: bash`` runs the code in that shell (output capped at 800 characters; a command past
``command_timeout_s`` is interrupted, and that is an observation with ``info["timed_out"]``); ``Act: answer``
or ``Act: finish`` ends the episode with reward 1.0 or 0.0. A malformed reply is an observation with
``info["invalid_action"]``. A sandbox fault raises ``envs.errors.EnvError`` (the episode becomes env_error).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from envs.base import Split, Task
from envs.errors import EnvsError, TaskFormatError
from envs.os import checkers, prompts
from envs.os.generator import generate_task
from envs.os.tasks import ENV_ID, load_os_tasks, payload_problems
from envs.sandbox import SANDBOX_KINDS, SandboxConfig, SandboxError, make_sandbox
from envs.sandbox.image import resolve_image
from envs.sandbox.warm import WarmSandboxes
from envs.textenv import WHERE, Opening, TextEnv

MAX_TURNS = 8  # AgentBench's round_limit
SETUP_TIMEOUT_S = 60.0


class OSEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_TURNS
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)
    example_key = "one_shot"
    release_at_end = True  # nothing the agent started outlives its episode

    def __init__(
        self,
        split: Split = "train",
        max_turns: int = MAX_TURNS,
        sandbox: str = "bwrap",
        command_timeout_s: float = 10.0,
        scripts_dir: str | None = None,
        sandbox_config: SandboxConfig | None = None,
        sandbox_image: str = "auto",
        warm_sandboxes: int = 1,
    ) -> None:
        super().__init__(split, max_turns)
        if command_timeout_s <= 0:
            raise EnvsError(f"{ENV_ID}: command_timeout_s must be positive, got {command_timeout_s}")
        if sandbox not in SANDBOX_KINDS:
            raise EnvsError(f"{ENV_ID}: sandbox must be one of {SANDBOX_KINDS}, got {sandbox!r}")
        if warm_sandboxes < 0:
            raise EnvsError(f"{ENV_ID}: warm_sandboxes must be 0 or more, got {warm_sandboxes}")
        self.sandbox_kind, self.scripts_dir = sandbox, scripts_dir
        config = sandbox_config or SandboxConfig(command_timeout_s=command_timeout_s)
        try:
            image, self.image_digest = resolve_image(sandbox_image if sandbox == "bwrap" else "host")
        except SandboxError as error:
            raise EnvsError(f"{ENV_ID}: sandbox_image={sandbox_image!r}: {error}") from error
        self.sandbox_config = replace(config, image=image)
        self._warm = WarmSandboxes(lambda: make_sandbox(self.sandbox_kind, self.sandbox_config), warm_sandboxes)
        self._box = None

    def warm_up(self, timeout_s: float = 60.0) -> None:
        """Start the first episode's sandbox now and wait for it (up to ``timeout_s``): what a rollout actor does
        before it takes work, so that its first episodes do not all start their sandboxes at once."""
        self._warm.warm_up(timeout_s)

    def _check_task(self, task: Task) -> None:
        if missing := task.payload.get("missing_scripts"):
            raise TaskFormatError(
                WHERE, f"task {task.task_id} needs script files {missing}; pass scripts_dir= to load_os_tasks"
            )
        if reason := task.payload.get("not_runnable"):
            raise TaskFormatError(WHERE, f"task {task.task_id} is not runnable here: {reason}")

    def _start(self, task: Task) -> Opening:
        self._box = self._warm.take()
        for script in task.payload["init"]:
            language = script.get("language", "bash")  # its output is docker exec's in AgentBench: not the agent's
            self._box.run_script(script["code"], language=language, timeout_s=SETUP_TIMEOUT_S, discard_output=True)
        if task.payload.get("start"):
            self._box.run(task.payload["start"]["code"], timeout_s=SETUP_TIMEOUT_S)
        description = task.payload["description"]
        return Opening(
            prompts.first_observation(description),
            instruction=prompts.INSTRUCTION,
            example=prompts.ONE_SHOT,
            question=prompts.NEW_PROBLEM + description,
            extra={
                "sandbox": self._box.kind,
                "cgroup": self._box.cgroup,
                "lineage": {"sandbox_image": self.image_digest},
            },
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        assert self._box is not None  # set by _start
        parsed = prompts.parse_action(action) if isinstance(action, str) else prompts.Invalid("text expected.")
        if isinstance(parsed, prompts.Invalid):
            info["invalid_action"] = True
            return prompts.invalid_action(parsed.reason), 0.0, False
        if isinstance(parsed, prompts.Bash):
            result = self._box.run(parsed.code)
            info.update(exit_code=result.exit_code, timed_out=result.timed_out, output_truncated=result.truncated)
            info["shell_restarted"] = result.shell_restarted
            timeout = self.sandbox_config.command_timeout_s
            return prompts.os_output(result.output, timed_out=result.timed_out, timeout_s=timeout), 0.0, False
        info["answer"] = parsed.text
        return prompts.EPISODE_OVER, 1.0 if self._grade(parsed.text, info) else 0.0, True

    def _release(self) -> None:
        if self._box is not None:
            self._warm.retire(self._box)
            self._box = None

    def close(self) -> None:
        super().close()
        self._warm.close()

    def _grade(self, answer: str | None, info: dict[str, Any]) -> bool:
        """AgentBench's judge: compare with ``match``, or run the ``check`` chain (each step must exit 0)."""
        assert self._task is not None and self._box is not None  # set by reset
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


__all__ = ["MAX_TURNS", "OSEnv", "load_os_tasks"]
