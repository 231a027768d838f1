"""`make bench`: eventbank's speed and cost, side by side with its peers and the physical limit.

Run `python -m bench` (quick, about a minute) or `python -m bench --full` (about ten minutes); the report
lands in bench-results/. Figures are compared as ratios measured in the same run, because the machines
are shared and absolute figures drift.
"""
