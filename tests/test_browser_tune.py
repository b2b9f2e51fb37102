"""The Tune tab in a real headless Chromium: a range-test suggestion goes into racer 1, and a
search's trial is loaded into the race. Fixtures are conftest.py's, helpers test_browser.py's."""

import re

import pytest
from test_browser import (  # fixtures (server, browser) are conftest.py's
    finish,
    main,
    open_page,
    racer_lr,
    settle,
    shot,
    sidebar,
    wait_for_racer_lr_change,
)

pytestmark = pytest.mark.browser


def open_tune(page) -> None:
    page.get_by_role("tab", name="Tune").click()
    page.get_by_text("Use a suggestion").first.wait_for(timeout=60_000)
    settle(page, 800)


def open_search(page):
    """Tune → Search; its Run search button once the section is drawn."""
    main(page).get_by_role("radio", name="Search", exact=True).click()
    run = page.get_by_role("button", name="Run search")
    run.wait_for(timeout=60_000)
    return run


def run_random_search(page, run, trials: int) -> None:
    """Set the trials, pick random search, run it and wait for its summary."""
    main(page).get_by_role("spinbutton", name="trials", exact=True).fill(str(trials))
    run.scroll_into_view_if_needed()  # room below the sampler for its list (1024x768)
    main(page).get_by_role("combobox", name="sampler").click()
    page.get_by_role("option", name="random").click()
    run.click()
    page.get_by_text(f"{trials} trials of random search").wait_for(timeout=120_000)
    settle(page)


def load_into_racer_1(page, trial: str) -> None:
    """Press "Load into racer 1" for the picked ``trial`` ("#17 Adam · ...") and wait for
    the toast that follows the rerun."""
    main(page).get_by_role("button", name="Load into racer 1").click()
    name = trial.split()[0].replace("#", "Trial ")
    page.get_by_text(f"{name} loaded into racer 1").wait_for(timeout=60_000)
    settle(page)


def test_a_range_test_suggestion_becomes_racer_1_s_lr(server, browser):
    url, _ = server
    page, errors = open_page(browser, f"{url}/?steps=200")
    page.set_viewport_size({"width": 1280, "height": 800})
    before = racer_lr(page).input_value()
    open_tune(page)
    curve = main(page).locator(".js-plotly-plot").filter(has_text="smoothed loss").first
    curve.wait_for(timeout=30_000)
    assert curve.get_by_text("valley:").count() == 1  # the suggestion in the legend
    # a shorter sweep: the figure follows the input
    steps = main(page).get_by_role("spinbutton", name="steps", exact=True)
    steps.fill("300")
    steps.press("Enter")
    settle(page)
    buttons = main(page).get_by_role("button", name=re.compile(r"^lr = "))
    assert buttons.count() == 3
    valley = buttons.nth(1)
    wanted = valley.inner_text().removeprefix("lr = ").strip()
    shot(page, "tune-01-range-test")
    valley.click()
    wait_for_racer_lr_change(page, before)
    settle(page)
    assert f"{float(racer_lr(page).input_value()):.3g}" == f"{float(wanted):.3g}"
    assert page.locator(".js-plotly-plot image").first.is_visible()  # the race reran
    finish(page, errors)


def test_a_search_s_trial_loads_into_racer_1(server, browser):
    url, _ = server
    page, errors = open_page(browser, f"{url}/?steps=200")
    page.set_viewport_size({"width": 1280, "height": 800})
    open_tune(page)
    run_random_search(page, open_search(page), 60)
    assert main(page).get_by_text("60 / 60 trials").count() == 1  # the progress bar finished
    landscape = main(page).locator(".js-plotly-plot").filter(has_text="completed (").first
    landscape.scroll_into_view_if_needed()
    assert landscape.locator(".scatterlayer .point").count() >= 40
    pick = main(page).get_by_label("trial (or click its marker)")
    best = pick.input_value()  # e.g. "#17 Adam · loss 3.1e-6": the best trial is picked
    table = main(page).locator('[data-testid="stDataFrame"]').last
    row = table.locator('[role="gridcell"]').all_inner_texts()[:3]  # trial, optimizer, lr
    assert f"#{row[0]} {row[1]}" in best, (row, best)
    # a click on another trial's marker picks that trial; the completed trials are the trace
    # with the most points (plotly.js leaves empty traces out of the DOM)
    traces = landscape.locator(".scatterlayer .trace").all()
    completed = max(traces, key=lambda t: t.locator(".point").count()).locator(".point")
    for k in range(2):
        box = completed.nth(k).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        settle(page)
        if pick.input_value() != best:
            break
    clicked = pick.input_value()
    assert clicked != best, clicked
    shot(page, "tune-02-search")
    # back to the best trial, then race it
    pick.click()
    page.get_by_role("option", name=best).click()
    settle(page)
    optimizer = re.match(r"#\d+ (\w+)", best).group(1)
    load_into_racer_1(page, best)
    chosen = sidebar(page).get_by_role("combobox", name="optimizer").first.input_value()
    assert chosen == optimizer, (chosen, best)
    assert float(racer_lr(page).input_value()) == pytest.approx(float(row[2]), rel=1e-2)
    shot(page, "tune-03-trial-loaded")
    finish(page, errors)


def test_a_searched_schedule_loads_into_racer_1_s_sidebar(server, browser):
    url, _ = server
    page, errors = open_page(browser, f"{url}/?steps=200")
    page.set_viewport_size({"width": 1024, "height": 768})
    open_tune(page)
    run = open_search(page)
    # the end of the section: the run that drew it is over
    main(page).get_by_text("Each trial races one setting").wait_for(timeout=60_000)
    settle(page, 800)
    # schedules: StepLR instead of the constant lr ("none"), as a user picks them
    # typed, so that its one option opens right under the field: a long list would run
    # past a 768 px window, and scrolling to an option closes the list
    schedules = main(page).get_by_role("combobox", name="lr schedules")
    schedules.click()
    schedules.press_sequentially("StepLR")
    page.get_by_role("option", name="StepLR", exact=True).click()
    page.keyboard.press("Escape")
    main(page).get_by_role("button", name="Remove none").click()
    run_random_search(page, run, 40)
    assert main(page).get_by_text("schedule (StepLR: 2 parameters)").count() == 1
    pick = main(page).get_by_label("trial (or click its marker)")
    best = pick.input_value()  # e.g. "#17 Adam · StepLR · loss 3.1e-6"
    assert "· StepLR ·" in best, best
    card = main(page).get_by_text(re.compile(r"StepLR\.step_size = \d+")).first.inner_text()
    step_size = re.search(r"StepLR\.step_size = (\d+)", card).group(1)
    gamma = float(re.search(r"StepLR\.gamma = ([\d.e-]+)", card).group(1))
    # the best trials' table heads a schedule's parameters by their own names: the full key
    # was cut to "StepLR.step_s" at 1024 px
    table = main(page).locator('[data-testid="stDataFrame"]').last
    table.scroll_into_view_if_needed()
    headers = table.locator('[role="columnheader"]').all_text_contents()  # the grid's a11y table
    assert {"step_size", "gamma"} <= {h.strip() for h in headers}, headers
    shot(page, "tune-04-schedule-search")
    load_into_racer_1(page, best)
    schedule = sidebar(page).get_by_role("combobox", name="lr schedule").first
    assert schedule.input_value() == "StepLR"
    assert sidebar(page).get_by_label("step_size", exact=True).first.input_value() == step_size
    shown_gamma = float(sidebar(page).get_by_label("gamma", exact=True).first.input_value())
    assert shown_gamma == pytest.approx(gamma, rel=5e-3)  # the card shows three digits
    schedule.scroll_into_view_if_needed()
    shot(page, "tune-05-schedule-loaded")
    finish(page, errors)


def test_the_tune_and_basins_settings_survive_a_visit_to_another_tab(server, browser):
    """Only the open tab below the race runs; a widget that does not run loses its value
    unless it persists it. A teacher who set up a search, looked at the results and came
    back found the form reset."""
    url, _ = server
    page, errors = open_page(browser, f"{url}/?steps=200")
    page.set_viewport_size({"width": 1024, "height": 768})
    open_tune(page)
    run_random_search(page, open_search(page), 40)
    page.get_by_role("tab", name="Basins").click()
    colour = main(page).get_by_role("radio", name="steps", exact=True)
    colour.wait_for(timeout=60_000)
    colour.check(force=True)  # Streamlit's radio input is visually hidden
    settle(page)
    page.get_by_role("tab", name="Results").click()
    settle(page)
    page.get_by_role("tab", name="Tune").click()
    settle(page)
    assert main(page).get_by_role("radio", name="Search", exact=True).is_checked()
    assert main(page).get_by_role("spinbutton", name="trials", exact=True).input_value() == "40"
    sampler = main(page).get_by_role("combobox", name="sampler").input_value()
    assert sampler == "random", sampler
    assert main(page).get_by_text("40 trials of random search").count() == 1  # the study too
    page.get_by_role("tab", name="Basins").click()
    settle(page)
    assert main(page).get_by_role("radio", name="steps", exact=True).is_checked()
    page.get_by_role("tab", name="Tune").click()
    settle(page)
    # a kept value beside a widget's own default: no warning from Streamlit about it
    assert main(page).get_by_text("default value").count() == 0
    assert main(page).locator('[data-testid="stAlert"]').count() == 0
    finish(page, errors)
