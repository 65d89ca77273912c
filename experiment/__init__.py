"""The assembled experiment config: every stage's section in one validated value, loaded from configs/.

It sits above the stage packages whose sections it assembles (corpus, trainables, judging) and below the search,
which runs it; a CLI inside a stage reads its own sections through `common.config_file` instead, so no stage
imports this package back.
"""
