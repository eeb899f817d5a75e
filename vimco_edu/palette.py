"""Colours, markers, line styles and labels shared by every figure in the course, read from
the estimator registry (estimators.py), plus the Okabe-Ito palette, which stays
distinguishable under the common colour-vision deficiencies."""
from .estimators import ESTIMATORS

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
             "#000000"]

METHOD_COLOURS = {name: e.colour for name, e in ESTIMATORS.items()} | {"exact": "#000000"}
METHOD_LABELS = {name: e.label for name, e in ESTIMATORS.items()}
METHOD_MARKERS = {name: e.marker for name, e in ESTIMATORS.items()}
METHOD_LINESTYLES = {name: e.linestyle for name, e in ESTIMATORS.items()}
