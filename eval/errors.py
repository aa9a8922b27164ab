"""Errors raised by evaluation."""


class EvalError(Exception):
    """Base class for evaluation errors."""
