"""What the DB environment says to the agent.

The action grammar is AgentBench's (and so AgentInstruct's), so that models tuned on
AgentInstruct's database trajectories transfer: ``Action: Operation`` then one SQL
statement on one line in a ```sql block, or ``Action: Answer`` then
``Final Answer: ["ANSWER1", "ANSWER2", ...]``; the question is followed by the table's
name and headers. The sentences are our own.
"""

from __future__ import annotations

from envs.textenv import fixed_replies

INSTRUCTION = """\
You will answer a question by working with a SQL database (SQLite underneath; MySQL syntax such as `backtick` \
quoting works). Before each action, think the problem through and explain your reasoning in a few sentences.
Each turn, choose exactly one of two actions.

To run SQL, write:
Action: Operation
```sql
SELECT * FROM table WHERE condition;
```
The code block holds one SQL statement on a single line and nothing else. Only the first ```sql block of a reply \
is run, and one statement per turn; I will send back the database's raw response.

Once you know the answer, write:
Action: Answer
Final Answer: ["ANSWER1", "ANSWER2", ...]
Answer only when you are sure: the values are checked against the correct answer exactly, so copy them as the \
database returns them. When the question asks you to change the database, make the change first; after that the \
content of the Final Answer list does not matter.
A reply that follows neither format counts as a mistake."""

FORMAT_REMINDER = """\
Reply with a short explanation and then exactly one action, either
Action: Operation
```sql
<one SQL statement on one line>
```
or
Action: Answer
Final Answer: ["ANSWER1", "ANSWER2", ...]"""

EPISODE_OVER = "Your final answer was recorded; the episode is over."


ACKNOWLEDGEMENT = "Ok."  # the agent's fixed reply to INSTRUCTION, as in AgentInstruct's DB records
OPENING_REPLIES = fixed_replies(ACKNOWLEDGEMENT)


def question_prompt(question: str, description: str) -> str:
    """The task turn: the question, then the table's name and headers (AgentBench's order)."""
    return f"{question}\n{description}"


def first_observation(question: str, description: str) -> str:
    return f"{INSTRUCTION}\n\n{question_prompt(question, description)}"


def invalid_action(reason: str) -> str:
    return f"Invalid action: {reason}\n{FORMAT_REMINDER}"
