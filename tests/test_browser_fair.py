"""The fair comparison in a real headless Chromium, on a 1024 px screen: run a small one, see
its table and figure, race the tuned settings. Fixtures are conftest.py's, helpers
test_browser.py's."""

import pytest
from test_browser import (  # fixtures (server, browser) are conftest.py's
    finish,
    main,
    open_page,
    settle,
    shot,
    sidebar,
)

pytestmark = pytest.mark.browser


def choose(page, box, option: str) -> None:
    """Pick ``option`` in a selectbox; a script run that lands just after the click (the
    previous widget's) closes the list, so open it again until the option shows."""
    from playwright.sync_api import TimeoutError as Timeout  # only where playwright is

    for _ in range(3):
        box.click()
        item = page.get_by_role("option", name=option)
        try:
            item.wait_for(timeout=5_000)
        except Timeout:
            settle(page, 300)
            continue
        item.click()
        return
    raise AssertionError(f"the list never offered {option!r}")


def test_a_fair_comparison_runs_and_its_tuned_settings_race(server, browser):  # noqa: F811
    url, _ = server
    page, errors = open_page(browser, f"{url}/?steps=100")
    page.set_viewport_size({"width": 1024, "height": 768})
    page.get_by_role("tab", name="Tune").click()
    page.get_by_text("Use a suggestion").first.wait_for(timeout=90_000)  # the first section
    settle(page, 500)
    main(page).get_by_role("radio", name="Fair comparison", exact=True).click()
    compare = main(page).get_by_role("button", name="Compare")
    compare.wait_for(timeout=60_000)
    settle(page, 500)
    budget = main(page).get_by_role("spinbutton", name="trials per optimizer and seed")
    budget.fill("8")
    seeds = main(page).get_by_role("spinbutton", name="seeds", exact=True)
    seeds.fill("3")
    choose(page, main(page).get_by_role("combobox", name="sampler").last, "random")
    compare.click()
    page.get_by_text("3 optimizers × 3 seeds × 8 trials of random search").wait_for(timeout=120_000)
    settle(page)
    table = main(page).locator('[data-testid="stDataFrame"]').last
    table.scroll_into_view_if_needed()
    cells = table.locator('[role="gridcell"]').all_inner_texts()
    ranked = [c for c in cells if c in ("SGD", "Adam", "RMSprop")]
    assert sorted(ranked) == ["Adam", "RMSprop", "SGD"], cells
    figure = main(page).locator(".js-plotly-plot").filter(has_text="Best loss of each seed")
    figure.scroll_into_view_if_needed()
    assert figure.locator(".boxlayer .trace").count() == 3
    assert figure.locator(".boxlayer .point").count() >= 6  # a point per seed (some diverge)
    shot(page, "fair-01-comparison")
    main(page).get_by_role("button", name="Race the tuned settings").click()
    page.get_by_text("The tuned settings race").wait_for(timeout=60_000)  # the toast
    settle(page)
    names = sidebar(page).locator('input[aria-label="name"]')
    labels = [names.nth(i).input_value() for i in range(names.count())]
    assert labels == [f"{name} tuned" for name in ranked], labels
    assert page.locator(".js-plotly-plot image").first.is_visible()  # the race reran
    shot(page, "fair-02-raced")
    finish(page, errors)
