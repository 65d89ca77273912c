"""The reason the `[retry]` line gives for a trial Tune runs again (search/progress.py), from Tune's error file.

The texts are Tune's error files as written on this machine: the first from the two-node test's lost worker node
(tests/search/test_multinode.py, a SIGKILLed raylet), the others in the forms Ray words a dead node and a trial's
own exception.
"""

from __future__ import annotations

from search.progress import failure_reason

LOST_NODE = (
    "Failure # 1 (occurred at 2026-11-30_17-06-53)\n"
    "The actor 04e195e1b6514967eb65eb6f02000000 is unavailable: The actor is temporarily unavailable: RpcError: RPC "
    "error: recvmsg:Connection reset by peer rpc_code: 14. The task may or may not have been executed on the actor.\n"
)
DEAD_NODE = (
    "Failure # 1 (occurred at 2026-11-30_17-10-02)\n"
    "The actor died unexpectedly before finishing this task.\n"
    "\tclass_name: ImplicitFunc\n"
    "\tactor_id: 04e195e1b6514967eb65eb6f02000000\n"
    "\tpid: 13850\n"
    "The actor is dead because its node has died. Node Id: 5d1c0f\n"
)
RAISED_THEN_LOST = (
    "Failure # 1 (occurred at 2026-11-30_17-01-00)\n"
    "ray::ImplicitFunc.train() (pid=1, ip=192.0.2.2)\n"
    '  File "trainables/recipe.py", line 142, in run_trial\n'
    "ValueError: epoch 1: train_loss=nan is not finite\n"
    "\n" + LOST_NODE.replace("# 1", "# 2")
)


def test_the_reason_is_rays_sentence_about_the_lost_worker():
    assert failure_reason(LOST_NODE).startswith("The actor 04e195e1b6514967eb65eb6f02000000 is unavailable: ")
    assert "Connection reset by peer" in failure_reason(LOST_NODE)


def test_a_dead_node_is_named_rather_than_the_first_line():
    assert failure_reason(DEAD_NODE) == "The actor is dead because its node has died. Node Id: 5d1c0f"


def test_only_the_latest_failure_counts_and_a_traceback_gives_its_last_line():
    assert "Connection reset by peer" in failure_reason(RAISED_THEN_LOST)
    first_only = RAISED_THEN_LOST.split("\n\n")[0]
    assert failure_reason(first_only) == "ValueError: epoch 1: train_loss=nan is not finite"


def test_an_empty_error_file_says_so():
    assert failure_reason("") == "no reason recorded"
