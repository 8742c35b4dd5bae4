"""gpt1: reproduce GPT-1 (Radford et al. 2018) from raw text to the paper's result tables."""

__version__ = "0.1.0"
