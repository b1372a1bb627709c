"""The block explorer (docs/explorer.md): served by the API without the token, and driven in
headless Chromium against a real one-node dev chain.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``); Selenium is pointed at both explicitly and runs offline (no
Selenium Manager download). ``DAOLI_EXPLORER_SCREENSHOT=<path>`` saves a screenshot of the
overview there (``docs/explorer.png`` for the README); nothing is written otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from daoli.core.address import address_of, decode_address
from daoli.core.crypto import pubkey_from_secret
from daoli.core.tx import Transaction, Transfer
from daoli.node import api
from daoli.node.api import build_app, openapi_document
from daoli.node.home import Home
from daoli.wallet.keystore import decrypt_keystore, read_keystore_file
from tests.node.api_fixtures import TOKEN, Chain, FakeNode, build_chain, client, open_store
from tests.node.nodeproc import NodeProc, free_port, init_home, wait_for

WebDriver = webdriver.Chrome
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
EXPLORER_DIR = Path(api.__file__).parent / "explorer"
SCREENSHOT_ENV = "DAOLI_EXPLORER_SCREENSHOT"
WAIT_S = 20.0
MEMO = "<img src=x onerror=alert(1)> & <b>not bold</b>"
AMOUNT = 123_450_000  # 1.2345 DLC


# --- fast: the routes, in-process -----------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> Chain:
    return build_chain(4)


@pytest.fixture
def fake(chain: Chain, tmp_path: Path) -> Iterator[FakeNode]:
    store, _ = open_store(tmp_path / "data", chain, 2)
    with store:
        yield FakeNode(chain.genesis, store)


def _get_all(node: FakeNode, paths: list[str], headers: dict[str, str]
             ) -> list[httpx.Response]:
    app = build_app(node, TOKEN)

    async def main() -> list[httpx.Response]:
        async with client(app, headers=headers) as c:
            return [await c.get(p) for p in paths]

    return trio.run(main)


def test_explorer_files_are_served_without_the_token_and_nothing_else_is(
        fake: FakeNode) -> None:
    page, js, css, status, slash, other = _get_all(
        fake, ["/explorer", "/explorer/app.js", "/explorer/style.css", "/v1/status",
               "/explorer/", "/explorer/secret.txt"], headers={})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="explorer/app.js"' in page.text and 'href="explorer/style.css"' in page.text
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for r in (page, js, css):
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    # everything else still needs the token: the API, and any other path under /explorer
    assert status.status_code == 401 and status.json()["code"] == "unauthorized"
    assert other.status_code == 401
    assert slash.status_code == 401  # not a redirect to somewhere else either


def test_explorer_is_in_the_openapi_document_without_security(fake: FakeNode) -> None:
    doc = openapi_document()
    for path, media in (("/explorer", "text/html"), ("/explorer/app.js", "text/javascript"),
                        ("/explorer/style.css", "text/css")):
        op = doc["paths"][path]["get"]
        assert op["security"] == [] and media in op["responses"]["200"]["content"]
    (served,) = _get_all(fake, ["/openapi.json"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert "/explorer" in served.json()["paths"]


def test_a_missing_explorer_file_is_a_json_404_not_a_crash(
        fake: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "_explorer_files", lambda: {})
    (r,) = _get_all(fake, ["/explorer"], headers={})
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert "not installed" in r.json()["error"]


def test_the_script_never_inserts_html() -> None:
    """Server data (memos are user text) only ever goes in with textContent/createElement."""
    code = "\n".join(line for line in (EXPLORER_DIR / "app.js").read_text().splitlines()
                     if not line.lstrip().startswith("//"))
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "javascript:"):
        assert sink not in code, sink
    html = (EXPLORER_DIR / "index.html").read_text()
    assert "<script>" not in html and "http://" not in html and "https://" not in html


# --- slow: a real node and a real browser ---------------------------------------------------


def dev_secret(home: Path) -> bytes:
    ks = read_keystore_file(home / "wallets" / "dev.json")
    return decrypt_keystore(ks, Home(home).dev_password(), "wrong dev password")


@pytest.fixture(scope="module")
def devnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProc, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("explorer") / "dev"
    info = init_home(home)
    # a fixed API port, so that the page can reconnect to the same origin after a restart
    node = NodeProc(home, extra=("--api", f"127.0.0.1:{free_port()}",
                                 "--listen", "/ip4/127.0.0.1/tcp/0"))
    try:
        node.start()
        wait_for("block 2", lambda: node.height() >= 2, timeout=30)
        secret = dev_secret(home)
        to = address_of(pubkey_from_secret(bytes([5]) * 32))
        chain_id = node.get("/v1/status")["chain_id"]
        tx = Transaction(chain_id, pubkey_from_secret(secret), 0, 2_000,
                         Transfer(decode_address(to), AMOUNT, MEMO.encode())).signed(secret)
        res = node.post("/v1/txs", {"tx": tx.encoded.hex()})["results"][0]
        assert res["status"] == "accepted", res
        txid = tx.id.hex()
        wait_for("the transfer is final",
                 lambda: node.get(f"/v1/txs/{txid}")["status"] == "final", timeout=30)
        height = int(node.get(f"/v1/txs/{txid}")["height"])
        wait_for("two blocks on top", lambda: node.height() >= height + 2, timeout=30)
        yield node, {"txid": txid, "height": height, "to": to,
                     "from": info["dev_wallet"]["address"],
                     "signer": Home(home).signer_pubkey().hex()}
        assert node.stop() == 0, node.stderr_tail()
    finally:
        node.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"headless browser tests need {' and '.join(missing)} "
                    "(Debian: apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-background-networking",
                "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
        driver = webdriver.Chrome(options=opts,
                                  service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def until(driver: WebDriver, what: str, cond: Callable[[WebDriver], Any]) -> Any:
    """Wait (bounded) until ``cond`` returns something truthy."""
    def check(d: WebDriver) -> Any:
        try:
            return cond(d)
        except (WebDriverException, ValueError):
            return None  # not there yet, or replaced in between: look again
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(
        check, message=f"timed out after {WAIT_S} s waiting for {what}")


def one(driver: WebDriver, css: str) -> WebElement:
    """The first element matching ``css``; NoSuchElementException (which :func:`until`
    takes for "not yet") if there is none."""
    return driver.find_element(By.CSS_SELECTOR, css)


def go(driver: WebDriver, route: str) -> None:
    """Navigate inside the page (the app's hash routing), without a reload."""
    driver.execute_script("location.hash = arguments[0]", route)


def search(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "search-input")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#search button").click()


def no_alert(driver: WebDriver) -> bool:
    try:
        driver.switch_to.alert.dismiss()
    except NoAlertPresentException:
        return True
    return False


def severe_console_errors(driver: WebDriver) -> list[str]:
    log: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [str(e["message"]) for e in log if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def opened(devnode: tuple[NodeProc, dict[str, Any]],
           browser: WebDriver) -> tuple[WebDriver, NodeProc, dict[str, Any]]:
    """The explorer open with the token from the URL fragment, overview loaded."""
    node, facts = devnode
    browser.get(f"{node.api}/explorer#token={node.token}")
    until(browser, "the latest blocks", lambda d: one(d, "#blocks tbody tr[data-height]"))
    return browser, node, facts


@pytest.mark.slow
def test_the_page_is_open_the_api_is_not(devnode: tuple[NodeProc, dict[str, Any]]) -> None:
    node, _ = devnode
    page = httpx.get(node.api + "/explorer", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert httpx.get(node.api + "/explorer/app.js", timeout=10).status_code == 200
    assert httpx.get(node.api + "/v1/status", timeout=10).status_code == 401
    assert node.token not in page.text


@pytest.mark.slow
def test_overview_shows_status_and_new_blocks_arrive_live(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, node, _ = opened
    assert node.token not in d.current_url, "the token must leave the address bar"
    assert d.execute_script("return sessionStorage.getItem('daoli.explorer.token')") == node.token
    status = node.get("/v1/status")
    until(d, "the chain id", lambda d: one(d, "#status [data-field=chain_id]").text
          == status["chain_id"])
    until(d, "the live badge", lambda d: one(d, "#live").get_attribute("data-state") == "live")
    rows = d.execute_script(  # at once: rows come and go while the page is live
        "return [...document.querySelectorAll('#blocks tbody tr[data-height]')]"
        ".map(r => [Number(r.dataset.height), r.dataset.id])")
    heights = [h for h, _ in rows]
    assert heights == sorted(heights, reverse=True) and heights[0] >= 2
    assert heights == list(range(heights[0], heights[0] - len(heights), -1)), "a gap"
    top = heights[0]
    assert rows[0][1] == node.get(f"/v1/blocks/{top}")["id"]
    d.execute_script("window.__noReload = 42")
    until(d, "a block newer than the page arriving live",
          lambda d: int(one(d, "#blocks tbody tr[data-height]").get_attribute("data-height")
                        or 0)
          > top + 1)
    assert d.execute_script("return window.__noReload") == 42, "the page was reloaded"
    until(d, "the status height to follow", lambda d: int(
        one(d, "#status [data-field=height]").text.replace(",", "")) > top)
    shot = os.environ.get(SCREENSHOT_ENV)
    if shot:
        go(d, "#/")
        until(d, "the overview again", lambda d: one(d, "#blocks tbody tr[data-height]"))
        assert d.save_screenshot(shot), shot


@pytest.mark.slow
def test_block_page_shows_payload_winner_and_certificate_signers(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, node, facts = opened
    go(d, f"#/block/{facts['height']}")
    until(d, "the block page", lambda d: one(d, f"#block-title[data-height='{facts['height']}']"))
    block = node.get(f"/v1/blocks/{facts['height']}")
    signer = until(d, "the certificate signer",
                   lambda d: one(d, f"#certificate tr.signer[data-pubkey='{facts['signer']}']"))
    assert facts["signer"] in signer.text
    assert one(d, "#certificate [data-field=round]").text == str(block["certificate"]["round"])
    assert one(d, "[data-field=id]").text == block["id"]
    winner = one(d, "#winner [data-field=winner_miner] a")
    assert winner.get_attribute("title") == block["winner"]["miner"]
    # the payload, decoded from the block's raw CBOR in the page: addresses computed there
    row = until(d, "the transfer in the payload",
                lambda d: one(d, f"#payload tr[data-tx='{facts['txid']}']"))
    links = [a.get_attribute("title") for a in row.find_elements(By.CSS_SELECTOR, "a")]
    assert links == [facts["txid"], facts["from"], facts["to"]]
    assert "1.2345 DLC" in row.text


@pytest.mark.slow
def test_tx_page_renders_the_memo_as_text(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, _, facts = opened
    go(d, f"#/block/{facts['height']}")
    until(d, "the payload", lambda d: one(d, f"#payload tr[data-tx='{facts['txid']}'] a")
          ).click()
    memo = until(d, "the memo", lambda d: one(d, "#tx-memo"))
    assert memo.text == MEMO
    assert d.find_elements(By.CSS_SELECTOR, "main img, main b") == []
    assert no_alert(d)
    assert one(d, "[data-field=status]").text == "final"
    assert "1.2345 DLC" in one(d, "[data-field=amount]").text
    to = one(d, "[data-field=to] a")
    assert to.get_attribute("title") == facts["to"]


@pytest.mark.slow
def test_account_page_shows_balance_and_recent_history(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, _, facts = opened
    go(d, f"#/account/{facts['to']}")
    until(d, "the balance", lambda d: one(d, "#account-balance").text == "1.2345 DLC")
    row = until(d, "the transfer in the history",
                lambda d: one(d, f"#history tr[data-tx='{facts['txid']}']"))
    assert row.find_element(By.CSS_SELECTOR, "span.tag").text == "in" and MEMO in row.text
    assert d.find_elements(By.CSS_SELECTOR, "main img") == []
    note = one(d, "#history-range").text
    assert re.search(r"blocks 1–[\d,]+", note), note  # says which blocks were scanned
    # the sender's side: the same transfer, outgoing
    go(d, f"#/account/{facts['from']}")
    row = until(d, "the sender's history",
                lambda d: one(d, f"#history tr[data-tx='{facts['txid']}']"))
    assert row.find_element(By.CSS_SELECTOR, "span.tag").text == "out"
    assert no_alert(d)


@pytest.mark.slow
def test_search_by_height_id_and_address(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, node, facts = opened
    search(d, str(facts["height"]))
    until(d, "the block found by height",
          lambda d: one(d, f"#block-title[data-height='{facts['height']}']"))
    search(d, facts["to"])
    until(d, "the account found by address",
          lambda d: one(d, "#account-address").text == facts["to"])
    search(d, facts["txid"].upper())
    until(d, "the transaction found by id", lambda d: one(d, "#tx-memo"))
    assert d.current_url.endswith(f"#/tx/{facts['txid']}")
    block = node.get(f"/v1/blocks/{facts['height']}")
    search(d, block["id"])
    until(d, "the block found by id", lambda d: one(d, "#block-title"))
    assert one(d, "[data-field=id]").text == block["id"]
    search(d, "no such thing")
    notice = until(d, "an explanation", lambda d: one(d, "#notice:not([hidden])"))
    assert "height" in notice.text and "address" in notice.text
    errors = [e for e in severe_console_errors(d) if "Content Security Policy" in e]
    assert errors == [], errors


@pytest.mark.slow
def test_trustees_and_lineup(opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, node, facts = opened
    d.find_element(By.LINK_TEXT, "Trustees & lineup").click()
    row = until(d, "the trustee",
                lambda d: one(d, f"#trustees tr[data-pubkey='{facts['signer']}']"))
    assert row.find_element(By.CSS_SELECTOR, "span.tag").text == "active"
    trustee = node.get("/v1/trustees")["trustees"][0]
    assert row.find_element(By.CSS_SELECTOR, "a").get_attribute("title") == trustee["address"]
    assert "1,000 DLC" in row.text
    assert one(d, "#lineup") and len(node.get("/v1/lineup")["lineup"]) == len(
        d.find_elements(By.CSS_SELECTOR, "#lineup tbody tr:not(:has(td.empty))"))


@pytest.mark.slow
def test_the_page_reconnects_after_a_node_restart(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, node, _ = opened
    go(d, "#/")
    until(d, "live", lambda d: one(d, "#live").get_attribute("data-state") == "live"
          and one(d, "#blocks tbody tr[data-height]"))
    d.execute_script("window.__noReload = 7")
    assert node.stop() == 0, node.stderr_tail()
    until(d, "the page to notice", lambda d: one(d, "#live").get_attribute("data-state")
          in ("reconnecting", "connecting"))
    stopped_at = int(
        one(d, "#blocks tbody tr[data-height]").get_attribute("data-height") or 0)
    node.start()
    until(d, "live again", lambda d: one(d, "#live").get_attribute("data-state") == "live")
    until(d, "blocks after the restart", lambda d: int(
        one(d, "#blocks tbody tr[data-height]").get_attribute("data-height") or 0)
        > stopped_at + 1)
    assert d.execute_script("return window.__noReload") == 7, "the page was reloaded"


@pytest.mark.slow
def test_without_a_token_the_page_asks_for_one(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    d, node, _ = opened
    d.find_element(By.ID, "forget").click()
    until(d, "the token form", lambda d: one(d, "#token-form"))
    d.get(f"{node.api}/explorer")  # a fresh load without a fragment or a stored token
    box = until(d, "the token form after a reload", lambda d: one(d, "#token-input"))
    assert d.find_elements(By.CSS_SELECTOR, "#blocks") == []
    box.send_keys("00" * 32)  # well-formed, wrong
    d.find_element(By.CSS_SELECTOR, "#token-form button").click()
    until(d, "the refusal", lambda d: "refused" in one(d, "#token-error").text)
    box = d.find_element(By.ID, "token-input")
    box.send_keys(node.token)
    d.find_element(By.CSS_SELECTOR, "#token-form button").click()
    until(d, "the overview with the right token",
          lambda d: one(d, "#blocks tbody tr[data-height]"))


@pytest.mark.slow
def test_market_pages_show_offers_orders_leases_and_a_provider(
        opened: tuple[WebDriver, NodeProc, dict[str, Any]]) -> None:
    from daoli.client import Client, offer_body, order_body

    d, node, _ = opened
    severe_console_errors(d)  # drain what earlier tests (a restart, no token) left there
    d.get(f"{node.api}/explorer#token={node.token}")
    secret = dev_secret(node.home)
    c = Client(node.api, node.token)
    tip = c.status().height
    offer = c.resource_offer(secret, offer_body(2000, 4096, 100, 100, 50,
                                                expires_height=tip + 10_000, capacity=2,
                                                endpoint="<b>ssh</b> host"), 2_000)
    assert c.submit(offer).ok
    c.wait_for_tx(offer.id, timeout=30)
    order = c.resource_order(secret, order_body(1000, 1024, 10, 10, 60, 500), 2_000)
    assert c.submit(order).ok
    c.wait_for_tx(order.id, timeout=30)
    lease_id = order.id.hex()  # a matched order's id is its lease's
    go(d, "#/market")
    until(d, "the offer", lambda d: one(d, f"#offers tr[data-offer='{offer.id.hex()}']"))
    row = one(d, f"#offers tr[data-offer='{offer.id.hex()}']")
    assert "1 / 2" in row.text and "<b>ssh</b> host" in row.text  # user text shown as text
    until(d, "the lease", lambda d: one(d, f"#leases tr[data-lease='{lease_id}']"))
    one(d, f"#leases tr[data-lease='{lease_id}'] a").click()
    until(d, "the lease page", lambda d: one(d, "#lease [data-field=id]").text == lease_id)
    lease = c.lease(lease_id)
    assert one(d, "#lease [data-field=escrow_left]").text.endswith("DLC")
    assert lease.paid + lease.escrow_left == 500 * 60
    # the provider's view, from the lease page's provider link
    one(d, "#lease a[href^='#/provider/']").click()
    until(d, "the provider page", lambda d: one(
        d, f"#provider-offers tr[data-offer='{offer.id.hex()}']"))
    assert one(d, f"#provider-leases tr[data-lease='{lease_id}']")
    assert no_alert(d) and not severe_console_errors(d)
