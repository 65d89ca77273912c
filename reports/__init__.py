"""Reports after every search: Pareto plot, loss-versus-judge ranking, energy (`python -m reports.build`)."""
