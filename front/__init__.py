"""The Pareto maths of a table of trials: objectives and their directions, non-dominated sort, hypervolume, knee.

Pure numpy/pandas with no dependency on the search or the reports, so both (and a CSV of published results)
use the same code without an import cycle.
"""
