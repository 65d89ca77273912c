"""Human 1-5 ratings of served answers, as the support-desk study's manager gave them, and how well the judges
agree with them.

The ratings database the rating page writes (`store`), the study's tables, agreement and calibration computed from
it (`tables`), their report section (`section`) and `python -m judging.human` (`__main__`)."""
