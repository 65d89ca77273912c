"""After the search: the chosen adapters behind an OpenAI-compatible API, and a page where support staff rate their
answers blind (`python -m serve --search NAME`; raters from `python -m serve.raters`, tasks from `python -m
serve.tasks`)."""
