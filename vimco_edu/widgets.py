"""Interactive figures that work with a kernel and without one.

`explore(draw, controls)` is the course's `interact`: `draw(**values)` draws one matplotlib
figure (and calls `plt.show()`), `controls` maps each argument to an ipywidgets control.

* With a kernel (JupyterLab, Binder, Colab) it behaves like `ipywidgets.interact`: the controls
  sit above an output that `draw` redraws from Python when a control is released
  (`continuous_update=False`). The displayed output also carries a PNG of the first figure,
  so that a notebook shown without its widget state (GitHub, nbviewer, the site built without
  frames) shows that figure instead of a line of text.
* On the static website (the site build sets VIMCO_EDU_STATIC_WIDGETS=1 before it executes the
  notebooks) there is no Python to redraw: every figure the controls can ask for is drawn in
  advance, one PNG frame per combination of `static` values, into nested `Stack`s of `Image`
  widgets; each control's `index` is `jslink`ed to its stacks' `selected_index`, so moving it
  switches frames in the browser from the saved widget state alone.

ipywidgets and matplotlib are imported inside the functions: the package itself needs only
numpy and autograd (the notebooks bring the rest)."""

from __future__ import annotations

import base64
import contextlib
import io
import os

STATIC_ENV = "VIMCO_EDU_STATIC_WIDGETS"
PREVIEW_DPI = 100   # the PNG kept in the committed notebook (the figures around it use 150)
FRAME_DPI = 90      # frames for the site: one per setting, so smaller
MAX_FRAMES = 60     # frames x ~50 kB decide a page's size; more means a coarser grid
SLIDER_VALUES = 25  # an integer slider with at most this many values gets one frame per value


def static_mode() -> bool:
    """True when the site build asked for precomputed frames (VIMCO_EDU_STATIC_WIDGETS=1)."""
    return os.environ.get(STATIC_ENV, "") not in ("", "0")


def explore(draw, controls, *, static=None, rows=None, draw_static=None):
    """Show `controls` above the figure `draw(**values)` draws, and return the widget shown.

    draw: a function of the controls' values that draws one matplotlib figure.
    controls: {argument name: ipywidgets control}, in the order they are shown.
    static: {argument name: values} for the static site: the values to draw a frame for
        (a small grid for a continuous control, all options of a short list by default), or a
        single value to fix that argument on the site. A multiple selection is fixed at its
        current value unless given here.
    rows: the controls' layout as rows of names ([["k", "methods"]]); default one per row.
    draw_static: the function drawing the frames and the preview (default `draw`).
    """
    box, bundle = build(draw, controls, static=static, rows=rows, draw_static=draw_static)
    from IPython.display import display

    display(bundle, raw=True)
    return box


def build(draw, controls, *, static=None, rows=None, draw_static=None):
    """(widget, display bundle) for `explore`; see there. The bundle holds the widget's view,
    a PNG preview (the figure for the controls' current values) and a text description."""
    import ipywidgets as widgets

    static, rows, draw_static = _checked(draw, controls, static, rows, draw_static)

    values = {name: _static_values(name, control, static.get(name, _DEFAULT))
              for name, control in controls.items()}
    current = {name: control.value for name, control in controls.items()}
    start = {name: current[name] if current[name] in options else options[0]
             for name, options in values.items()}
    preview = _render(draw_static, start, PREVIEW_DPI)

    if static_mode():
        box, text = _static_widget(draw_static, controls, values, start, rows)
    else:
        for control in controls.values():
            if hasattr(control, "continuous_update"):
                control.continuous_update = False  # redraw on release: the course's rule
        output = widgets.interactive_output(draw, controls)
        box = widgets.VBox([widgets.HBox([controls[n] for n in row]) for row in rows] + [output])
        text = "Interactive figure: run the notebook to use its controls."
    bundle = dict(box._repr_mimebundle_())
    bundle["text/plain"] = text
    if preview["png"] is not None:
        bundle["image/png"] = base64.b64encode(preview["png"]).decode("ascii")
    return box, bundle


def _checked(draw, controls, static, rows, draw_static):
    """explore's arguments checked (an error naming the argument): (static, rows,
    draw_static) with their defaults filled in."""
    import ipywidgets as widgets

    if not callable(draw):
        raise TypeError(f"draw must be a function that draws a figure, got {type(draw).__name__}")
    if draw_static is not None and not callable(draw_static):
        raise TypeError(f"draw_static must be a function, got {type(draw_static).__name__}")
    if not isinstance(controls, dict) or not controls:
        raise TypeError("controls must be a non-empty dict {argument name: ipywidgets control}")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(f"controls[{name!r}] must be an ipywidgets control with a value, "
                            f"got {type(control).__name__}")
    static = dict(static or {})
    unknown = sorted(set(static) - set(controls))
    if unknown:
        raise ValueError(f"static names {unknown} that are not controls ({list(controls)})")
    rows = rows or [[name] for name in controls]
    placed = [name for row in rows for name in row]
    if sorted(placed) != sorted(controls):
        raise ValueError(f"rows must place every control exactly once: got {rows} for "
                         f"{list(controls)}")
    draw_static = draw_static or draw
    return static, rows, draw_static


_DEFAULT = object()


def _static_values(name, control, given):
    """The values the static site draws for one control: a list (one frame each)."""
    import ipywidgets as widgets

    if given is not _DEFAULT:
        if isinstance(given, (list, tuple, range)) and not isinstance(control,
                                                                      widgets.SelectMultiple):
            options = list(given)
        else:
            options = [given]   # a single value (a multiple selection's value is a tuple)
        if not options:
            raise ValueError(f"static[{name!r}] is empty: give at least one value")
        return options
    if isinstance(control, widgets.SelectMultiple):
        return [control.value]
    if isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
        return [False, True]
    if hasattr(control, "options"):   # Dropdown, SelectionSlider, ToggleButtons, RadioButtons
        return [value for _, value in _labelled(control)]
    if isinstance(control, widgets.IntSlider):
        grid = list(range(control.min, control.max + 1, control.step))
        if len(grid) <= SLIDER_VALUES:
            return grid
    raise ValueError(f"controls[{name!r}] ({type(control).__name__}) has too many values for one "
                     f"frame each: give static[{name!r}] a small grid of values")


def _labelled(control):
    """(label, value) pairs of a selection control."""
    return [(label, value) for label, value in zip(control._options_labels,
                                                    control._options_values)]


def _static_widget(draw, controls, values, start, rows):
    """The frames, the index-carrying controls and their links, for the static site."""
    import ipywidgets as widgets

    moving = [name for name, options in values.items() if len(options) > 1]
    count = 1
    for name in moving:
        count *= len(values[name])
    if count > MAX_FRAMES:
        raise ValueError(f"{count} frames ({' x '.join(str(len(values[n])) for n in moving)}) "
                         f"is more than {MAX_FRAMES}: give `static` coarser grids")
    pickers = {name: _index_control(controls[name], values[name], start[name])
               for name in moving}
    fixed = {name: options[0] for name, options in values.items() if len(options) == 1}
    links = []

    def frames(level, chosen):
        if level == len(moving):
            frame = _render(draw, {**fixed, **chosen}, FRAME_DPI)
            if frame["png"] is None:
                message = frame["text"].strip() or "Nothing to show for this choice."
                return widgets.HTML(f"<p><em>{_escape(message)}</em></p>")
            return widgets.Image(value=frame["png"], format="png",
                                 layout=widgets.Layout(max_width="100%", height="auto"))
        name = moving[level]
        stack = widgets.Stack(
            [frames(level + 1, {**chosen, name: value}) for value in values[name]],
            selected_index=values[name].index(start[name]))
        links.append(widgets.jslink((pickers[name], "index"), (stack, "selected_index")))
        return stack

    figure = frames(0, {})
    note = _note(controls, values, count)
    layout = [widgets.HBox([pickers[n] for n in row if n in pickers]) for row in rows]
    layout = [row for row in layout if row.children]
    box = widgets.VBox([widgets.HTML(f"<small>{_escape(note)}</small>"), *layout, figure])
    box.links = links   # the browser-side links (the widget state holds them; tests read them)
    return box, note


def _note(controls, values, count):
    """The line above a static widget: how many frames, and which controls are reduced."""
    described = []
    for name, options in values.items():
        live = controls[name]
        label = getattr(live, "description", "") or name
        if len(options) > 1 and _live_count(live) not in (None, len(options)):
            described.append(f"{label}: {len(options)} of its values")
        elif len(options) == 1 and _live_count(live) != 1:
            described.append(f"{label}: fixed at {_show(live, options[0])}")
    return (f"Precomputed for this page ({count} frame{'s' if count > 1 else ''}"
            + (f"; {', '.join(described)}" if described else "")
            + "): run the notebook to redraw it live for any setting.")


def _index_control(live, options, value):
    """A control over `options` with an `index` trait (what jslink can drive a Stack with):
    a dropdown stays a dropdown, a slider becomes a selection slider, a checkbox two buttons."""
    import ipywidgets as widgets

    description = getattr(live, "description", "")
    style = {"description_width": live.style.description_width} if hasattr(live, "style") and \
        getattr(live.style, "description_width", "") else {}
    labels = {v: label for label, v in _labelled(live)} if hasattr(live, "options") else {}
    pairs = [(labels.get(v, _show(live, v)), v) for v in options]
    if isinstance(live, (widgets.Checkbox, widgets.ToggleButton)):
        return widgets.ToggleButtons(options=[("off" if not v else "on", v) for v in options],
                                     value=value, description=description, style=style)
    if isinstance(live, (widgets.Dropdown, widgets.Select, widgets.RadioButtons,
                         widgets.ToggleButtons)):
        return widgets.Dropdown(options=pairs, value=value, description=description,
                                style=style)
    return widgets.SelectionSlider(options=pairs, value=value, description=description,
                                   continuous_update=False, style=style)


def _live_count(control):
    """How many values the live control offers (None: a continuum or a free choice)."""
    import ipywidgets as widgets

    if isinstance(control, widgets.SelectMultiple):
        return None
    if isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
        return 2
    if hasattr(control, "options"):
        return len(control.options)
    if isinstance(control, widgets.IntSlider):
        return len(range(control.min, control.max + 1, control.step))
    return None


def _show(control, value):
    import ipywidgets as widgets

    if isinstance(control, widgets.SelectMultiple):
        labels = {v: label for label, v in _labelled(control)}
        return ", ".join(str(labels.get(v, v)) for v in value)
    if hasattr(control, "options"):
        return str({v: label for label, v in _labelled(control)}.get(value, value))
    return str(value)


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _render(draw, values, dpi):
    """Call draw(**values) and return {"png": bytes or None, "text": what it printed}: the one
    figure it drew (shown or not), saved at `dpi` and closed. `plt.show` is a no-op meanwhile,
    so nothing reaches the notebook's output."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    printed = io.StringIO()
    show = plt.show
    plt.show = lambda *args, **kwargs: None
    try:
        with contextlib.redirect_stdout(printed):
            draw(**values)
    finally:
        plt.show = show
    new = [n for n in plt.get_fignums() if n not in before]
    if len(new) > 1:
        for n in new:
            plt.close(n)
        raise ValueError(f"draw made {len(new)} figures for {values}; it must make one")
    png = None
    if new:
        figure = plt.figure(new[0])
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(figure)
        png = buffer.getvalue()
    return {"png": png, "text": printed.getvalue()}


def frame_count(controls, static=None):
    """How many frames the static site draws for these controls (for tests and planning)."""
    static = static or {}
    count = 1
    for name, control in controls.items():
        count *= len(_static_values(name, control, static.get(name, _DEFAULT)))
    return count


__all__ = ["STATIC_ENV", "build", "explore", "frame_count", "static_mode"]
