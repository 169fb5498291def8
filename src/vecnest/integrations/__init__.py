"""Adapters to other frameworks (optional extras): ``langchain``, ``llamaindex``."""
