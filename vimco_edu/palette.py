"""Colours, markers, line styles and labels shared by every figure in the course, read from
the estimator registry (estimators.py) at the moment they are looked up, so an estimator
registered later has its look too; plus the Okabe-Ito palette, which stays distinguishable
under the common colour-vision deficiencies."""
from collections.abc import Mapping

from .estimators import ESTIMATORS

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
             "#000000"]


class _FromRegistry(Mapping):
    """A read-only {method: entry.<field>} view of the registry (plus fixed `extra` keys)."""

    def __init__(self, field, extra=None):
        self.field, self.extra = field, extra or {}

    def __getitem__(self, method):
        if method in ESTIMATORS:
            return getattr(ESTIMATORS[method], self.field)
        return self.extra[method]

    def __iter__(self):
        return iter([*ESTIMATORS, *(key for key in self.extra if key not in ESTIMATORS)])

    def __len__(self):
        return len(list(iter(self)))

    def __repr__(self):
        return repr(dict(self))


METHOD_COLOURS = _FromRegistry("colour", {"exact": "#000000"})
METHOD_LABELS = _FromRegistry("label")
METHOD_MARKERS = _FromRegistry("marker")
METHOD_LINESTYLES = _FromRegistry("linestyle")
