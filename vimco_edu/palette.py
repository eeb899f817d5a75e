"""Colours and labels shared by every figure in the course: the Okabe-Ito palette,
which stays distinguishable under the common colour-vision deficiencies. Plain
data, so the package still depends only on numpy and autograd."""

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
             "#000000"]

METHOD_COLOURS = {"naive": "#D55E00", "nvil": "#E69F00", "vimco": "#0072B2",
                  "vimco-arith": "#56B4E9", "exact": "#000000"}

METHOD_LABELS = {"naive": "naive score function", "nvil": "NVIL",
                 "vimco": "VIMCO (geometric)", "vimco-arith": "VIMCO (arithmetic)"}
