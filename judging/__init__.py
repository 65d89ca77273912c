"""LLM-as-a-judge scoring of candidate answers, through litellm, with an offline judge."""
