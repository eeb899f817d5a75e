"""Two figure helpers the notebooks share: names written at the ends of lines, and runs over
seeds drawn as a mean with its range. Each takes a matplotlib Axes and calls only its methods,
so the package itself needs no matplotlib (the notebooks bring it)."""
import numpy as onp


def label_ends(ax, ends, x_text, gap=0.06, fontsize=12):
    """Write each line's name beside its right end, in its colour, joined to the end by a thin
    leader line: in place of a legend, where lines share a colour or a legend would cover them.

    ends: (x, y, text, colour) of each line's end, in data coordinates. x_text: where the
    labels start (data coordinates). Labels closer than `gap` (a fraction of the axes' height)
    are pushed apart, upwards from the lowest and then down from the top (the highest stays
    below 0.98), keeping their order. Each leader leaves its line's end level, slants to its
    label's height and meets the label level, so it crosses no other label or leader. The
    labels are placed for the axes' limits at the call, so call it once they are final."""
    ax.get_xlim(), ax.get_ylim()                     # settle autoscaled limits first
    to_axes = ax.transData + ax.transAxes.inverted()
    heights = onp.array([to_axes.transform((x, y))[1] for x, y, _, _ in ends])
    order = onp.argsort(heights)
    place = heights[order]
    for i in range(1, len(place)):                   # push up from the bottom ...
        place[i] = max(place[i], place[i - 1] + gap)
    place[-1] = min(place[-1], 0.98)
    for i in range(len(place) - 2, -1, -1):          # ... and down from the top
        place[i] = min(place[i], place[i + 1] - gap)
    for i, y_text in zip(order, place):
        x, y, text, colour = ends[i]
        ax.annotate(text, xy=(x, y), xytext=(x_text, y_text), textcoords=("data", "axes fraction"),
                    color=colour, fontsize=fontsize, va="center", ha="left")
        # the leader's corners; each segment is an annotation's arrow, drawn between points in
        # their own coordinates at draw time (so the pieces stay joined if the limits change,
        # and they do not widen autoscaled limits as plotted lines would)
        corners = [(_between(ax, x, x_text, f), y, "data") for f in (0.1, 0.3)] + [
            (_between(ax, x, x_text, f), y_text, ("data", "axes fraction")) for f in (0.75, 0.95)]
        for (x0, y0, in0), (x1, y1, in1) in zip(corners[:-1], corners[1:]):
            ax.annotate("", xy=(x0, y0), xycoords=in0, xytext=(x1, y1), textcoords=in1,
                        arrowprops=dict(arrowstyle="-", color=colour, linewidth=0.8,
                                        shrinkA=0, shrinkB=0))


def _between(ax, x0, x1, fraction):
    """The x that lies `fraction` of the way from x0 to x1 as the x-axis draws them."""
    if ax.get_xscale() == "log":
        return x0 * (x1 / x0) ** fraction
    return x0 + fraction * (x1 - x0)


def seed_band(ax, x, runs, color, label=None, alpha=0.2, **line_style):
    """Runs of one configuration over seeds, `runs` of shape (seeds, len(x)): their mean as a
    line (with `line_style`, e.g. marker and linestyle) and their range, lowest to highest, as a
    band. The range is not a confidence interval: with three seeds it is what was seen. Returns
    the line, for a legend."""
    runs = onp.asarray(runs, dtype=float)
    if runs.ndim != 2 or runs.shape[1] != len(x):
        raise ValueError(f"runs must have shape (seeds, {len(x)}), got {runs.shape}")
    line, = ax.plot(x, runs.mean(axis=0), color=color, label=label, **line_style)
    ax.fill_between(x, runs.min(axis=0), runs.max(axis=0), color=color, alpha=alpha, linewidth=0)
    return line
