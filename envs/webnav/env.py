"""``agenttune/WebNav-v0``: Mind2Web-style web navigation, one recorded step at a time (held-in, as in AgentTuning).

    import envs
    with envs.make_env("agenttune/WebNav-v0", split="test") as env:
        obs, info = env.reset(seed=3)                        # a generated test task
        obs, info = env.reset(options={"task": task})        # or any Task / task dict
        obs, reward, terminated, truncated, info = env.step("Thought: ...\\nAnswer: C.\\nAction: TYPE\\nValue: Denver")

Each turn shows one step of a recorded task (Mind2Web's offline setting): the page, the task, the recorded
actions before this step, and the candidate elements as choices. Whatever the agent answers, the next turn shows
the next recorded step (teacher forcing). Each step is scored with Mind2Web's element accuracy, operation F1 and
step success (``scoring``); ``info["step_scores"]`` lists them and ``info`` carries the episode's means. The
episode ends after the last step with reward = the fraction of steps that succeeded (rounded to 3 decimals), and
``info["success"]`` is True when every step succeeded. A reply that cannot be read (no answer letter, a letter
not offered, no operation) is a missed step, reported with ``info["invalid_action"]`` True; the task goes on.
When ``max_turns`` ends the episode early, the steps not reached count as failed and the reward is paid then.
"""

from __future__ import annotations

from typing import Any

from envs.base import Task
from envs.textenv import Opening, TextEnv
from envs.webnav import prompts, scoring
from envs.webnav.generator import ENV_ID, MAX_STEPS, generate_task, payload_problems
from envs.webnav.scoring import StepScore


class WebNavEnv(TextEnv):
    env_id, default_max_turns = ENV_ID, MAX_STEPS
    generate_task, payload_problems = staticmethod(generate_task), staticmethod(payload_problems)

    def _start(self, task: Task) -> Opening:
        self._scores: list[StepScore] = []
        question = prompts.step_observation(task.payload, 0)
        return Opening(
            prompts.first_observation(task.payload),
            instruction=prompts.INSTRUCTION,
            question=question,
            extra={"num_steps": len(task.payload["steps"]), "website": task.payload["website"]},
        )

    def _act(self, action: str, info: dict[str, Any]) -> tuple[str, float, bool]:
        assert self._task is not None  # set by reset
        payload = self._task.payload
        steps, index = payload["steps"], len(self._scores)
        step = steps[index]
        parsed = (
            prompts.parse_answer(action, len(step["candidates"]))
            if isinstance(action, str)
            else prompts.Invalid("the reply must be text.")
        )
        if isinstance(parsed, prompts.Invalid):
            info.update(invalid_action=True, error=parsed.reason)
            score = scoring.missed(index)
        else:
            gold = scoring.action_string(step["op"], step["value"])
            predicted = scoring.action_string(parsed.op, parsed.value)
            score = scoring.score_step(
                index, parsed.letter, parsed.letter == prompts.gold_letter(step), predicted, gold
            )
        self._scores.append(score)
        info.update(step=index, **{k: v for k, v in score.to_dict().items() if k != "step"})
        info |= scoring.episode_metrics(self._scores, len(steps))
        finished = len(self._scores) == len(steps)
        if finished:
            info["success"] = all(s.step_success for s in self._scores)
            observation = prompts.episode_over(info["steps_succeeded"], len(steps))
        else:
            observation = prompts.step_observation(payload, len(self._scores))
        if isinstance(parsed, prompts.Invalid):
            observation = prompts.invalid_answer(parsed.reason, observation)
        # The reward is paid once, when the episode ends: after the last step, or at the turn cap.
        ends = finished or self._turn >= self.max_turns
        return observation, scoring.episode_reward(self._scores, len(steps)) if ends else 0.0, finished
