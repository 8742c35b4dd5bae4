"""gpt1: reproduce GPT-1 (Radford et al. 2018) from raw text to the paper's result tables."""

import subprocess

__version__ = "0.1.0"


def git_commit() -> str:
    """The commit checked out in the working directory (the code that runs), or "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
