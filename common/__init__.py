"""Small pieces every stage of the pipeline shares (atomic files, error reporting).

Importing any of them first sets the environment `make` sets (common/quiet_env.py): every CLI imports from
`common` before litellm, MLflow or Ray load, so `python -m judging.score` outside `make` stays offline and quiet.
"""

from common.quiet_env import apply_quiet_env

apply_quiet_env()
