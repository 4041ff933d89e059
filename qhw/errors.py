"""Exceptions qhw raises for bad user input; the CLI turns them into one line and exit code 2."""
from __future__ import annotations


class QhwError(Exception):
    """Base class: a problem with the user's model, config, data or environment."""


class ModelError(QhwError):
    """The model is malformed: cycle, dangling input, shape mismatch, unknown op, bad file."""


class ConfigError(QhwError):
    """The configuration is invalid: unknown key, impossible format."""


class MissingToolError(QhwError):
    """An optional tool or extra is not installed; the message says how to install it."""
