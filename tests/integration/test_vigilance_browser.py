"""The identity-vigilance page in a real browser: Debian's Chromium, driven by Selenium.

A real gateway and the real mock (gunicorn, HTTPS, mutual TLS upstream); events come
from a search whose traits differ, a verification of a superseded INS and a batch job.
A reviewer logs in with the keyboard only, filters, opens an event, resolves it and
sees it leave the open list, then logs out; a wrong password, a form without its
anti-forgery token and an application key are refused. The screenshots of the list,
of one event and of the indicators are saved under docs/img/ (docs/vigilance.md shows them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from testbed.waiting import wait_until
from tests.integration.conftest import GatewayFactory, GatewayServer, MockServer
from tests.integration.vigilance_scenario import ZOE, Cell, add_reviewer, batch_job, json_calls
from tests.paths import ROOT

pytestmark = pytest.mark.integration
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "docs" / "img"
WAIT = 20.0


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    assert not missing, f"{missing}: install chromium and chromium-driver (scripts/test does)"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=fr-FR"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,800")
    options.accept_insecure_certs = True  # the dev PKI's CA is not in Chromium's store
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page_gateway(gateway_factory: GatewayFactory, mock_server: MockServer) -> GatewayServer:
    gateway = gateway_factory(mock_server.url, GATEWAY_JOB_RATE="100")
    json_calls(gateway, prefix="IPP-DPI")
    for _ in range(4):  # answers that need nobody: the indicators' share is not 100%
        assert gateway.post("/v1/ins/search", ZOE.traits()).json()["identity_status"] == "RECUP"
    batch_job(gateway, prefix="IPP-LOT")
    return gateway


def until(condition: Callable[[], bool], what: str) -> None:
    wait_until(lambda: _holds(condition), WAIT, what)


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except (StaleElementReferenceException, NoSuchElementException):  # the next page was loading
        return False


def text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def rows(driver: WebDriver) -> list[str]:
    return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")]


def test_a_reviewer_works_the_list_in_a_browser(
    browser: WebDriver, page_gateway: GatewayServer
) -> None:
    base = page_gateway.base_url + "/vigilance"
    password = add_reviewer(page_gateway, "alice")

    browser.get(base + "/")  # no session: the login form
    until(lambda: "Connexion" in browser.title, "the login page")

    # a wrong password is refused
    browser.find_element(By.ID, "name").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("not the password" + Keys.ENTER)
    until(lambda: "Identifiant ou mot de passe incorrect" in text(browser), "the refusal")
    assert browser.get_cookie("vigilance_session") is None

    # the right one, with the keyboard only: the name field has the focus, Tab, Enter
    name = browser.switch_to.active_element
    assert name.get_attribute("id") == "name"
    name.clear()
    name.send_keys("alice" + Keys.TAB)
    browser.switch_to.active_element.send_keys(password + Keys.ENTER)
    until(lambda: "Événements d'identitovigilance" in text(browser), "the worklist")
    cookie = browser.get_cookie("vigilance_session")
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")

    listed = rows(browser)
    assert len(listed) == 8, listed  # 5 JSON calls, 3 job rows
    assert any("IPP-DPI-mismatch" in row and "Discordance" in row for row in listed)
    assert any("IPP-LOT-superseded" in row and "INS remplacé" in row for row in listed)
    browser.save_screenshot(str(SCREENSHOTS / "vigilance-list.png"))

    # filter: superseded INS only (the JSON verification and the job's row, one patient)
    Select(browser.find_element(By.ID, "kind")).select_by_value("superseded")
    browser.find_element(By.ID, "filtrer").click()
    until(lambda: len(rows(browser)) == 2, "the filtered list")
    assert all("INS remplacé" in row for row in rows(browser))

    # open one: the other event of the same patient is listed beside it
    first = browser.find_element(By.CSS_SELECTOR, "a.event-link")
    event_id = first.text.removeprefix("n° ")
    first.click()
    until(lambda: f"Événement n° {event_id}" in text(browser), "the event page")
    assert "Événements liés du même patient" in text(browser)
    related = rows(browser)
    assert len(related) == 1
    assert "INS remplacé" in related[0]
    browser.save_screenshot(str(SCREENSHOTS / "vigilance-event.png"))

    # a form without its anti-forgery token is refused (403), the event stays open
    browser.execute_script(
        "document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())"
    )
    browser.find_element(By.ID, "resoudre").click()
    until(lambda: "Jeton anti-falsification" in text(browser), "the CSRF refusal")
    browser.get(f"{base}/events/{event_id}")
    until(lambda: "Ouvert" in browser.find_element(By.ID, "etat").text, "the event still open")

    # resolve it with a comment
    browser.find_element(By.ID, "comment-resolve").send_keys(
        "Fiche patient mise à jour (INS actif)"
    )
    browser.find_element(By.ID, "resoudre").click()
    until(lambda: "Résolu par alice" in text(browser), "the resolved event")
    assert "Fiche patient mise à jour" in text(browser)

    # it left the open list
    browser.get(base + "/")
    until(lambda: "Événements d'identitovigilance" in text(browser), "the worklist")
    assert len(rows(browser)) == 7
    assert all(f"n° {event_id}\n" not in row + "\n" for row in rows(browser))

    # the indicators: one plot per indicator, drawn by the gateway
    browser.find_element(By.LINK_TEXT, "Indicateurs").click()
    until(lambda: len(browser.find_elements(By.TAG_NAME, "svg")) == 4, "the plots")
    browser.save_screenshot(str(SCREENSHOTS / "vigilance-indicators.png"))

    # log out: the session is gone, the page leads to the login form again
    browser.find_element(By.XPATH, "//button[text()='Se déconnecter']").click()
    until(lambda: "Connexion" in browser.title, "the login page after logout")
    browser.get(base + "/")
    until(lambda: "Connexion" in browser.title, "no page without a session")


def test_an_application_key_never_opens_the_page(page_gateway: GatewayServer) -> None:
    app = Cell(page_gateway, key=page_gateway.api_key)

    for path in ("/vigilance/", "/vigilance/events/1", "/vigilance/indicators"):
        response = app.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].endswith("/vigilance/login")
