"""The app in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium).

Skipped where Chromium is missing, except under CI=true, where skipping is a failure.
Screenshots go to test-artifacts/ (look at them after a UI change).
"""

import pytest
from conftest import ARTIFACTS, _need_browser, start_server, stop_server

pytestmark = pytest.mark.browser

# plotly.js logs this one when an animation is interrupted by the next one; it is harmless.
BENIGN = ("undefined",)
# Charts drawn by st.plotly_chart (maps, decision boundaries), not the race chart.
PLOTLY_CHART = '[data-testid="stPlotlyChart"]'


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1500, "height": 1050})
    errors = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error" and m.text.strip() not in BENIGN
            else None
        ),
    )
    page.goto(url)
    page.wait_for_selector(".race-chart .js-plotly-plot image", timeout=180_000)
    page.wait_for_timeout(1500)
    return page, errors


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def race_plot(page):
    """The race chart: the Plotly figure and, under it, ▶ Play, the step slider and label."""
    return page.locator(".race-chart").filter(has=page.locator("image")).first


def surface_visible(page) -> bool:
    image = race_plot(page).locator("image").first
    box = image.bounding_box()
    return bool(box and box["width"] > 100 and box["height"] > 100 and image.is_visible())


def wait_for_last_frame(page, steps=500):
    """Until the race has played to its last step and Plotly has redrawn it."""
    race_plot(page).get_by_text(f"step {steps}", exact=True).wait_for(timeout=90_000)
    page.wait_for_function("() => !document.querySelector('.race-chart').__race.playing")
    page.wait_for_timeout(500)


def start_inputs(page):
    return page.get_by_label("x₀"), page.get_by_label("y₀")


def test_page_loads_plays_and_keeps_the_surface(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    shot(page, "01-loaded")
    assert surface_visible(page)
    page.get_by_text("▶ Play").first.click()
    page.wait_for_timeout(1500)
    shot(page, "02-mid-animation")
    assert surface_visible(page), "the surface image vanished during the animation"
    wait_for_last_frame(page)
    shot(page, "03-after-animation")
    assert surface_visible(page)
    assert not errors, errors
    page.close()


def test_a_click_on_the_surface_moves_the_start(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    x_input, _ = start_inputs(page)
    before = x_input.input_value()
    page.get_by_text("▶ Play").first.click()
    wait_for_last_frame(page)  # clicks must still work after an animation
    plot = race_plot(page)
    box = plot.locator("image").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3)
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel); return e && e.value !== old; }",
        arg=['input[aria-label="x₀"]', before],
        timeout=60_000,
    )
    page.wait_for_timeout(1500)
    shot(page, "04-after-click")
    assert x_input.input_value() != before
    assert not errors, errors
    page.close()


def test_two_sessions_at_once_do_not_crash_the_server(server, browser):
    url, proc = server
    pages = [open_page(browser, url) for _ in range(2)]
    for page, _ in pages:  # both press Play and rerun with new settings at the same time
        page.get_by_text("▶ Play").first.click()
    for i, (page, _) in enumerate(pages):
        x_input, _ = start_inputs(page)
        x_input.fill(str(-1.0 - 0.1 * i))
        x_input.press("Enter")
    for page, _ in pages:
        page.wait_for_timeout(4000)
        assert surface_visible(page)
    assert proc.poll() is None, "the server died"
    for page, errors in pages:
        assert not errors, errors
        page.close()


def no_tracebacks(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def finish(page, errors: list) -> None:
    """A test's end: no traceback on the page, no page or console error, the page closed."""
    no_tracebacks(page)
    assert not errors, errors
    page.close()


def main(page):
    """The page's main area (not the sidebar)."""
    return page.locator('[data-testid="stMain"]')


def test_a_custom_formula_from_a_link_races_and_exports(server, browser):
    url, _ = server
    link = f"{url}/?surface=custom&formula=min(x%5E2%2By%5E2%2C(x-2)%5E2%2B0.5)%2B0.1*y%5E2"
    page, errors = open_page(browser, link)
    no_tracebacks(page)
    assert surface_visible(page)
    page.get_by_text("▶ Play").first.click()
    page.wait_for_timeout(1500)
    assert surface_visible(page)
    shot(page, "05-custom-formula-mid-animation")
    page.get_by_role("tab", name="Copy as PyTorch").click()
    page.get_by_text("def custom(x, y):").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="Basins").click()
    page.get_by_text("Map where each of").first.click()
    page.get_by_text("global").first.wait_for(timeout=120_000)
    no_tracebacks(page)
    shot(page, "06-custom-formula-basins")
    assert not errors, errors
    page.close()


def test_a_formula_typed_in_the_sidebar_races_in_3d(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    page.get_by_label("Surface", exact=True).first.click()
    page.get_by_role("option", name="Your own formula…").click()
    formula = page.get_by_label("f(x, y) =")
    formula.wait_for(timeout=60_000)
    formula.fill("x^2 + 3*y^2 + max(x, 0)")
    formula.press("Enter")
    page.wait_for_timeout(3000)
    no_tracebacks(page)
    assert surface_visible(page)
    page.get_by_text("3D", exact=True).click()
    page.locator(".js-plotly-plot .gl-container canvas").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    no_tracebacks(page)
    shot(page, "07-custom-formula-3d")
    assert not errors, errors
    page.close()


# ---- issue 12: what a new user hit -------------------------------------------------------


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def racer_lr(page):
    """Racer 1's lr field (racer 1's expander is the open one)."""
    return sidebar(page).get_by_label("lr", exact=True).first


def wait_for_racer_lr_change(page, before: str) -> None:
    """Until racer 1's lr field in the sidebar holds something other than ``before``."""
    page.wait_for_function(
        "([old]) => { const e = [...document.querySelectorAll("
        '\'[data-testid="stSidebar"] input[aria-label="lr"]\')][0];'
        " return e && e.value !== old; }",
        arg=[before],
        timeout=60_000,
    )


def settle(page, ms=1500):
    """Until the script run a widget started has finished."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    page.wait_for_timeout(ms)


def test_a_click_on_a_sensitivity_cell_loads_that_setting(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    before = racer_lr(page).input_value()
    page.get_by_role("tab", name="Sensitivity").click()
    page.get_by_text("Run the 24×24 grid of settings").click()
    # (the race chart above holds an invisible heatmap of its own: hover values)
    maps = page.locator(f"{PLOTLY_CHART} .js-plotly-plot")
    heatmap = maps.filter(has=page.locator(".hm")).first
    heatmap.wait_for(timeout=180_000)
    heatmap.scroll_into_view_if_needed()
    settle(page)
    box = heatmap.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.83, box["y"] + box["height"] * 0.62)
    load = page.get_by_role("button", name="Load the clicked setting into the race")
    load.wait_for(timeout=60_000)
    shot(page, "08-sensitivity-clicked")
    clicked = page.get_by_text("Clicked:").inner_text()
    load.click()
    wait_for_racer_lr_change(page, before)
    settle(page)
    loaded = float(racer_lr(page).input_value())
    assert f"lr = {loaded:.3g}" in clicked and loaded != float(before), (clicked, loaded)
    finish(page, errors)


def test_the_same_point_clicked_again_after_typing_a_start_moves_it(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    x_input, _ = start_inputs(page)
    box = race_plot(page).locator("image").first.bounding_box()
    point = (box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3)
    page.mouse.click(*point)
    settle(page)
    clicked = x_input.input_value()
    assert clicked != "-1.2"
    x_input.fill("-1.5")
    x_input.press("Enter")
    settle(page)
    assert x_input.input_value() == "-1.5"
    page.mouse.click(*point)
    settle(page)
    assert x_input.input_value() == clicked
    assert not errors, errors
    page.close()


def test_add_shows_icons_and_races_a_different_optimizer(server, browser):
    url, _ = server
    page, errors = open_page(browser, url)
    bar = sidebar(page)
    add = bar.get_by_role("button", name="Add")
    remove = bar.get_by_role("button", name="Remove")
    for button in (add, remove):
        assert button.locator('[data-testid="stIconMaterial"]').count() == 1
        assert "＋" not in button.inner_text() and "－" not in button.inner_text()
    add.click()
    fourth = bar.get_by_text("Racer 4")
    fourth.wait_for(timeout=60_000)
    settle(page)
    fourth.click()  # open its expander
    page.wait_for_timeout(800)
    # the open expanders: racer 1's and the new one (the defaults race SGD, Adam and RMSprop)
    optimizers = [c.input_value() for c in bar.get_by_role("combobox", name="optimizer").all()]
    assert optimizers[0] == "SGD" and optimizers[-1] not in ("SGD", "Adam", "RMSprop"), optimizers
    shot(page, "09-added-racer")
    finish(page, errors)


def test_a_lesson_link_selects_the_lesson_and_an_edit_shows_in_the_banner(server, browser):
    url, _ = server
    page, errors = open_page(browser, f"{url}/?lesson=lr-too-high")
    picker = sidebar(page).get_by_role("combobox", name="Lesson")
    assert picker.input_value() == "A learning rate too high diverges"
    lr = racer_lr(page)
    lr.fill("0.2")
    lr.press("Enter")
    page.get_by_text("modified: racer 1 lr").wait_for(timeout=60_000)
    settle(page)
    legend = race_plot(page).locator(".legend").text_content()
    assert "lr = 0.05" not in legend and "0.2" in legend
    finish(page, errors)


def _boxes_overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])  # fmt: skip


@pytest.mark.parametrize("size", [(1280, 800), (1024, 768)])
def test_toolbar_legend_and_results_fit_on_a_projector(server, browser, size):
    url, _ = server
    page, errors = open_page(browser, url)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.wait_for_timeout(1500)
    plot = race_plot(page)
    plot.hover()
    page.wait_for_timeout(500)
    toolbar = [page.locator(".modebar").first.bounding_box()]
    toolbar += [b.bounding_box() for b in page.locator('[data-testid="stElementToolbar"]').all()]
    entries = [e.bounding_box() for e in plot.locator(".legend .traces").all()]
    assert entries
    for bar in filter(None, toolbar):
        for entry in entries:
            assert not _boxes_overlap(bar, entry), (bar, entry)
    image = plot.locator("image").first.bounding_box()
    assert image["width"] * image["height"] > 0.12 * size[0] * size[1]  # the largest thing
    page.get_by_role("tab", name="Results").click()
    table = page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    shot(page, f"10-results-{size[0]}")
    scroll = table.locator(".dvn-scroller").first
    width, visible = scroll.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert width <= visible, "the results table scrolls sideways"
    cells = table.locator('[role="gridcell"]').all_inner_texts()
    assert cells and not [c for c in cells if "None" in c]
    assert not errors, errors
    page.close()


def test_the_basins_caption_shows_the_run_names_as_typed(server, browser):
    url, _ = server
    page, errors = open_page(browser, f"{url}/?steps=100")
    page.get_by_role("tab", name="Basins").click()
    page.get_by_text("Map where each of").first.click()
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="global")
    caption.first.wait_for(timeout=120_000)
    assert caption.first.inner_text().startswith("1. SGD")
    assert caption.first.locator("ol, li").count() == 0
    assert not errors, errors
    page.close()


def test_a_class_opening_the_link_at_once_sees_no_exception(browser):
    _need_browser()
    url, proc, log = start_server("streamlit-cold.log", timeout_s=240)  # started cold
    pages = []
    try:
        for _ in range(6):  # all six load together, before any first run has finished
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url, wait_until="commit")
            pages.append(page)
        exception = '[data-testid="stException"]'
        for i, page in enumerate(pages):
            page.wait_for_selector(f".js-plotly-plot image, {exception}", timeout=300_000)
            page.wait_for_timeout(500)
            assert page.locator(exception).count() == 0, (i, page.locator(exception).inner_text())
        for i, page in enumerate(pages):  # and each student then changes a setting
            x_input = page.get_by_label("x₀")
            x_input.fill(f"{-1.0 - 0.1 * i:.1f}")
            x_input.press("Enter")
        for i, page in enumerate(pages):  # every page updates (the link follows the setting)
            page.wait_for_function(
                "v => (new URL(location.href).searchParams.get('start') || '').startsWith(v)",
                arg=f"{-1.0 - 0.1 * i:.1f},",
                timeout=120_000,
            )
        settle(pages[-1])
        for i, page in enumerate(pages):
            assert page.locator(exception).count() == 0, (i, page.locator(exception).inner_text())
            assert surface_visible(page)
        assert proc.poll() is None, "the server died"
    finally:
        for page in pages:
            page.close()
        stop_server(proc, log)


def model_plots(page):
    return page.locator(".js-plotly-plot")


def test_the_model_mode_trains_and_animates_boundaries_and_the_plane(server, browser):
    url, _ = server
    page, errors = open_page(browser, f"{url}/?mode=model")
    page.locator(f"{PLOTLY_CHART} .heatmaplayer").first.wait_for(timeout=180_000)
    no_tracebacks(page)
    for size in ((1280, 800), (1024, 768)):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        page.wait_for_timeout(800)
        shot(page, f"11-model-{size[0]}")
    page.set_viewport_size({"width": 1500, "height": 1050})
    decision = (
        page.locator(f"{PLOTLY_CHART} .js-plotly-plot")
        .filter(has=page.locator(".heatmaplayer"))
        .first
    )
    decision.get_by_text("▶ Play").click()
    page.wait_for_timeout(1200)
    shot(page, "12-model-boundaries-mid-animation")
    assert decision.locator(".heatmaplayer image, .heatmaplayer .hm").count() > 0
    plane = race_plot(page)
    plane.scroll_into_view_if_needed()
    plane.get_by_text("▶ Play").click()
    page.wait_for_timeout(1200)
    shot(page, "13-model-plane-mid-animation")
    assert plane.locator("canvas.race-overlay").count() == 1
    box = plane.locator("image").first.bounding_box()
    assert box and box["width"] > 100
    finish(page, errors)


def test_an_uploaded_csv_trains_in_the_model_mode(server, browser, tmp_path):
    url, _ = server
    points = [((i * 37) % 100, (i * 53) % 100) for i in range(200)]
    rows = ["width,height,label"] + [f"{u / 10},{v / 10},{int(u > v)}" for u, v in points]
    path = tmp_path / "points.csv"
    path.write_text("\n".join(rows))
    page, errors = open_page(browser, f"{url}/?mode=model&steps=200")
    page.get_by_label("Data set", exact=True).first.click()
    page.get_by_role("option", name="Your CSV file…").click()
    page.locator("input[type=file]").first.set_input_files(str(path))
    page.get_by_text("your CSV file").first.wait_for(timeout=120_000)
    page.locator(f"{PLOTLY_CHART} .heatmaplayer").first.wait_for(timeout=120_000)
    no_tracebacks(page)
    shot(page, "14-model-csv")
    assert not errors, errors
    page.close()


def test_the_export_tab_downloads_a_gif_and_a_saved_race_reloads(server, browser, tmp_path):
    from optim_core.config import LabConfig
    from optim_core.engines import numba_engine
    from optim_core.exports import race_json

    url, _ = server
    page, errors = open_page(browser, url)
    page.get_by_role("tab", name="Export").click()
    with page.expect_download(timeout=120_000) as download:
        page.get_by_text("GIF (slides)").click()
    path = tmp_path / "race.gif"
    download.value.save_as(path)
    assert path.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    saved = tmp_path / "saved.json"
    specs = LabConfig(surface="himmelblau", start=(0.5, -0.5), steps=300).specs()
    saved.write_text(race_json([numba_engine.run(s) for s in specs]))
    page.locator("input[type=file]").first.set_input_files(str(saved))
    page.wait_for_function(
        "() => { const e = document.querySelector('input[aria-label=\"x₀\"]');"
        " return e && e.value === '0.5'; }",
        timeout=60_000,
    )
    settle(page)
    no_tracebacks(page)
    shot(page, "15-saved-race-loaded")
    assert not errors, errors
    page.close()


def test_a_model_lesson_loads_and_trains_in_the_browser(server, browser):
    from optim_core.models.lessons import MODEL_LESSONS

    lesson = MODEL_LESSONS["sam-flat-minima"]
    url, _ = server
    page, errors = open_page(browser, f"{url}/?mode=model&steps=100")
    page.locator(f"{PLOTLY_CHART} .heatmaplayer").first.wait_for(timeout=180_000)
    page.get_by_label("Lesson", exact=True).first.click()
    page.get_by_role("option", name=lesson.title).click()
    page.get_by_role("button", name="Load lesson").click()
    page.get_by_text(lesson.title).last.wait_for(timeout=180_000)
    page.get_by_text("top Hessian eigenvalue").first.wait_for(timeout=180_000)
    settle(page)
    no_tracebacks(page)
    shot(page, "16-model-lesson")
    assert not errors, errors
    page.close()
