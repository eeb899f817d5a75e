"""vimco_edu.widgets.explore: the live widget with its preview image, and the static site's
frames, controls and links (checked on the widget objects; tests/browser/test_site.py moves
them in a browser)."""

from __future__ import annotations

import base64

import pytest

widgets = pytest.importorskip("ipywidgets")
plt = pytest.importorskip("matplotlib.pyplot")

from vimco_edu import widgets as explorer  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def draw(k=1, wave="sin", show=True):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(range(10), [k * i if wave == "sin" else -k * i for i in range(10)])
    ax.set_title(f"{wave} {k} {show}")
    plt.show()


def controls():
    return {"k": widgets.IntSlider(value=2, min=1, max=4, description="K"),
            "wave": widgets.Dropdown(options=[("sine", "sin"), ("cosine", "cos")], value="cos",
                                     description="wave")}


@pytest.fixture(autouse=True)
def no_figures_left():
    yield
    plt.close("all")


@pytest.fixture
def static(monkeypatch):
    monkeypatch.setenv(explorer.STATIC_ENV, "1")


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)


def test_live_widget_redraws_from_python_and_carries_a_preview(live):
    box, bundle = explorer.build(draw, controls())
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(PNG)
    assert "run the notebook" in bundle["text/plain"]
    assert isinstance(box.children[-1], widgets.Output)   # interactive_output's redraw target
    sliders = [c for row in box.children[:-1] for c in row.children]
    assert [type(c) for c in sliders] == [widgets.IntSlider, widgets.Dropdown]
    assert sliders[0].continuous_update is False          # redraws on release
    # the preview's figure was closed; the one left is the live output's first draw, which a
    # notebook's inline backend shows and closes
    assert len(plt.get_fignums()) == 1


def test_static_site_gets_one_frame_per_setting_linked_to_the_controls(static):
    box, bundle = explorer.build(draw, controls())
    note, row_k, row_wave, stack = box.children
    assert "8 frames" in note.value
    picker_k, picker_wave = row_k.children[0], row_wave.children[0]
    assert isinstance(picker_k, widgets.SelectionSlider)
    assert [value for _, value in picker_k.options] == [1, 2, 3, 4]
    assert picker_k.index == 1 and stack.selected_index == 1           # the live value, K = 2
    assert isinstance(picker_wave, widgets.Dropdown)
    assert picker_wave.options == (("sine", "sin"), ("cosine", "cos")) and picker_wave.index == 1
    assert len(stack.children) == 4
    frames = [bytes(image.value) for inner in stack.children for image in inner.children]
    assert len(frames) == 8 and len(set(frames)) == 8 and all(f.startswith(PNG) for f in frames)
    assert all(inner.selected_index == 1 for inner in stack.children)
    links = box.links
    assert len(links) == 1 + 4
    linked = {(link.source[0].model_id, link.target[0].model_id) for link in links}
    assert (picker_k.model_id, stack.model_id) in linked
    for inner in stack.children:
        assert (picker_wave.model_id, inner.model_id) in linked
    assert all(link.source[1] == "index" and link.target[1] == "selected_index"
               for link in links if link.target[0] in (stack, *stack.children))
    assert bundle["image/png"]


def test_static_values_fix_grid_and_checkbox(static):
    calls = []

    def record(k, flag, many):
        calls.append((k, flag, many))
        draw(k)

    box, _ = explorer.build(
        record,
        {"k": widgets.IntSlider(value=10, min=0, max=100),
         "flag": widgets.Checkbox(value=True, description="flag"),
         "many": widgets.SelectMultiple(options=["a", "b", "c"], value=("a", "b"))},
        static={"k": [0, 10, 50]})
    assert len(calls) == 1 + 3 * 2                        # the preview, then 6 frames
    assert {c[2] for c in calls} == {("a", "b")}          # the multiple selection is fixed
    note = box.children[0].value
    assert "k: 3 of its values" in note and "fixed at a, b" in note
    toggle = box.children[2].children[0]
    assert isinstance(toggle, widgets.ToggleButtons) and toggle.value is True


def test_a_setting_without_a_figure_shows_what_was_printed(static):
    def maybe(k):
        if k == 2:
            print("no run for K = 2")
            return
        draw(k)

    box, _ = explorer.build(maybe, {"k": widgets.Dropdown(options=[1, 2, 3], value=1)})
    frames = box.children[-1].children
    assert isinstance(frames[1], widgets.HTML) and "no run for K = 2" in frames[1].value
    assert isinstance(frames[0], widgets.Image)


def test_draw_static_replaces_draw_for_preview_and_frames(static):
    used = []

    def other(k, wave):
        used.append(k)
        draw(k, wave, show=False)

    explorer.build(draw, controls(), draw_static=other)
    assert len(used) == 1 + 8


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(draw=None, controls=controls()), TypeError, "draw"),
    (dict(draw=draw, controls={}), TypeError, "controls"),
    (dict(draw=draw, controls={"k": 3}), TypeError, "controls['k']"),
    (dict(draw=draw, controls=controls(), static={"x": [1]}), ValueError, "static names"),
    (dict(draw=draw, controls=controls(), rows=[["k"]]), ValueError, "rows"),
    (dict(draw=draw, controls={"k": widgets.FloatSlider()}), ValueError, "static['k']"),
    (dict(draw=draw, controls={"k": widgets.IntSlider(max=1000)}), ValueError, "static['k']"),
])
def test_bad_arguments_are_named(static, kwargs, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        explorer.build(**kwargs)


def test_too_many_frames_is_refused(static):
    many = {name: widgets.Dropdown(options=list(range(8))) for name in "abc"}
    with pytest.raises(ValueError, match="512 frames"):
        explorer.build(lambda a, b, c: draw(), many)


def test_two_figures_from_one_call_are_refused(live):
    def two(k, wave):
        plt.figure()
        plt.figure()

    with pytest.raises(ValueError, match="2 figures"):
        explorer.build(two, controls())
    assert plt.get_fignums() == []
