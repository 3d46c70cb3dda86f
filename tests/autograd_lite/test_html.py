"""The interactive page (``save_graph(..., "graph.html")``): its content, and in a real browser.

The browser tests drive Debian's Chromium through its chromedriver with selenium; they
skip (saying why) when selenium is not importable or either program is not at its real
path. The 20,000-node page's open time is printed (run with ``-s`` to see it), not
asserted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, viz
from autograd_lite.cli import app as cli
from autograd_lite.viz import render, style
from autograd_lite.viz.html import MAX_VALUES, page

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HAVE_SELENIUM = importlib.util.find_spec("selenium") is not None
HAVE_BROWSER = os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)
CAN_RENDER = render.program("svg") is not None

needs_render = pytest.mark.skipif(not CAN_RENDER, reason="neither Graphviz dot nor graphviz-pure")
needs_browser = pytest.mark.skipif(
    not (HAVE_SELENIUM and HAVE_BROWSER and CAN_RENDER),
    reason="needs the selenium module, /usr/bin/chromium, /usr/bin/chromedriver and a renderer",
)


def model_loss():
    from autograd_lite import nn

    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.MLP(8, [6, 3], rng=1))
    x = Value(np.random.default_rng(2).normal(size=(5, 4)), name="x")
    loss = (model(x) ** 2).mean()
    loss.name = "loss"
    loss.backward()
    return model, loss


def page_data(text: str) -> dict:
    blob = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', text, re.S)
    return json.loads(blob.group(1))


# ------------------------------------------------------------------- the file


@needs_render
def test_page_is_one_self_contained_file(tmp_path):
    model, loss = model_loss()
    path = tmp_path / "graph.html"
    assert viz.save_graph(ag.draw_graph(loss, names=model, color="grad"), path) == "html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<script>" in text
    # nothing is fetched: no src/href to anything but inline data, no http(s) but the
    # SVG's XML namespaces
    assert not re.search(r"""\b(?:src|href)\s*=\s*["'](?!data:|#)""", text)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
        "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd",
    }, urls
    data = page_data(text)
    (w,) = [n for n, d in data["nodes"].items() if d.get("name") == "0.weight"]
    assert data["nodes"][w]["data"]["shape"] == "(4, 8)"
    assert data["nodes"][w]["data"]["dtype"] == "float64"
    assert "values" in data["nodes"][w]["data"]  # 32 elements: small enough to list
    assert "rms" in data["nodes"][w]["grad"] and data["nodes"][w]["flow"]["flags"] == []
    labels = {c["label"]: c for c in data["clusters"]}
    assert labels["2: MLP"]["parameters"] == 75 and labels["2: MLP"]["inputs"] == "(5, 8)"
    assert labels["2.layers.0: Layer"]["parent"] == labels["2: MLP"]["id"]


@needs_render
def test_page_of_a_value_with_nan_and_big_tensors(tmp_path):
    x = Value(np.linspace(-1.0, 1.0, MAX_VALUES + 1), name="x")
    y = x.log().sum()
    y.backward()
    viz.save_graph(y, tmp_path / "nan.html")  # a Value is drawn with the defaults
    data = page_data((tmp_path / "nan.html").read_text(encoding="utf-8"))  # strict JSON
    (xid,) = [n for n, d in data["nodes"].items() if d.get("name") == "x"]
    assert "values" not in data["nodes"][xid]["data"]  # 65 elements: statistics only
    (log,) = [n for n, d in data["nodes"].items() if d.get("op") == "log" and n.startswith("v")]
    assert data["nodes"][log]["data"]["nan"] == MAX_VALUES // 2


@needs_render
def test_cli_writes_the_page_and_takes_color_and_depth(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output file, graph.dot, is written here
    out = tmp_path / "g.html"
    assert cli.main(["graph", "tanh(x*w)", "x=9", "w=3", "--color", "grad", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "VANISHING" in text and page_data(text)["color"] == "grad"
    capsys.readouterr()
    assert cli.main(["graph", "x*y", "x=1", "y=2", "--color", "data", "--format", "dot"]) == 0
    assert (
        cli.main(["graph", "x*y", "x=1", "y=2", "--depth", "0", "-o", "-", "--format", "dot"]) == 0
    )
    assert "digraph" in capsys.readouterr().out
    for bad, message in (("--depth=-1", "must be at least 0"), ("--color=blue", "invalid choice")):
        with pytest.raises(SystemExit) as info:
            cli.main(["graph", "x*y", "x=1", "y=2", bad])
        assert info.value.code == 2 and message in capsys.readouterr().err


@needs_render
def test_page_of_an_expanded_compiled_step(tmp_path):
    from autograd_lite import nn

    model = nn.Linear(3, 2, rng=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)

    @ag.compile
    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    for _ in range(2):
        loss = step(np.ones((4, 3)))
    path = tmp_path / "step.html"
    viz.save_graph(ag.draw_graph(loss, expand=True, names=model), path)
    text = path.read_text(encoding="utf-8")
    assert "<svg" in text and "backward()" in text and "SGD.step()" in text
    (box,) = [c for c in page_data(text)["clusters"] if "whole step" in c["label"]]
    assert any(m.endswith("_bw") for m in box["members"])  # the step's nodes, in the box


def test_html_is_in_the_one_suffix_table():
    assert viz.SUFFIX_FORMATS[".html"] == "html" and "html" in cli.FORMATS
    assert viz.output_format("g.html") == "html"
    with pytest.raises(ValueError, match="names the html format, not svg"):
        viz.output_format("g.html", "svg")


# ------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (HAVE_SELENIUM and HAVE_BROWSER):
        pytest.skip("needs the selenium module, /usr/bin/chromium and /usr/bin/chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, path: Path) -> float:
    """Load ``path``; returns the milliseconds from navigation to the page being ready."""
    driver.get(path.resolve().as_uri())
    for _ in range(200):
        if driver.execute_script("return !!(window.AGL && document.body.dataset.ready)"):
            break
        time.sleep(0.05)
    return float(driver.execute_script("return AGL.readyAt"))


def console_errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def view(driver) -> dict:
    return driver.execute_script("return AGL.view()")


@needs_browser
def test_page_in_a_real_browser(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    model, loss = model_loss()
    path = tmp_path / "model.html"
    viz.save_graph(ag.draw_graph(loss, names=model, color="grad"), path)
    open_page(d, path)
    assert console_errors(d) == []

    # zoom: the buttons and the wheel shrink the viewBox; dragging pans it
    w0 = view(d)["w"]
    d.find_element(By.ID, "zoom-in").click()
    assert view(d)["w"] == pytest.approx(w0 / 1.25)
    vp = d.find_element(By.ID, "viewport")
    d.execute_script(
        "var r = arguments[0].getBoundingClientRect();"
        "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -100, bubbles: true,"
        " cancelable: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2}));",
        vp,
    )
    assert view(d)["w"] == pytest.approx(w0 / 1.25 / 1.25)
    x0 = view(d)["x"]
    ActionChains(d).move_to_element(vp).click_and_hold().move_by_offset(120, 40).release().perform()
    assert view(d)["x"] < x0  # dragged right: the view moved left
    d.find_element(By.ID, "fit").click()
    assert view(d)["w"] == pytest.approx(w0)

    # search by op; Enter selects the first match and shows its details
    box = d.find_element(By.ID, "search")
    box.send_keys("relu")
    box.send_keys(Keys.ENTER)
    assert d.find_element(By.ID, "hits").text.endswith(("match", "matches"))
    assert d.find_elements(By.CSS_SELECTOR, "g.node.hit")
    assert "relu" in d.find_element(By.ID, "detail-body").text
    box.clear()
    box.send_keys("layers.1.bias")
    box.send_keys(Keys.ENTER)
    assert d.find_element(By.ID, "hits").text == "1 match"

    # click a node: its full details
    data = d.execute_script("return AGL.data.nodes")
    (bias,) = [n for n, v in data.items() if v.get("name") == "0.bias"]
    node = d.find_element(By.CSS_SELECTOR, f'g.node[data-id="{bias}"]')
    d.find_element(By.ID, "fit").click()
    ActionChains(d).move_to_element(node).click().perform()
    panel = d.find_element(By.ID, "detail-body").text
    for word in ("0.bias", "parameter", "shape", "(8,)", "dtype", "float64", "rms", "mean"):
        assert word in panel, (word, panel)
    values = d.find_elements(By.CSS_SELECTOR, "#detail-body pre.values")
    assert len(values) == 2 and values[0].text.startswith("[")  # data and grad, 8 each

    # modules: collapse the MLP into one box, then expand it again
    clusters = {c["label"]: c for c in d.execute_script("return AGL.data.clusters")}
    mlp = clusters["2: MLP"]["id"]
    (tanh,) = [n for n, v in data.items() if v.get("op") == "tanh" and n.startswith("o")]
    toggle = d.find_element(By.CSS_SELECTOR, f'#modules button[data-cluster="{mlp}"]')
    toggle.click()
    assert not d.find_element(By.CSS_SELECTOR, f'g.node[data-id="{tanh}"]').is_displayed()
    boxes = d.find_elements(By.CSS_SELECTOR, f'g.agl-box[data-cluster="{mlp}"]')
    assert len(boxes) == 1 and "2: MLP" in boxes[0].text and "75 parameters" in boxes[0].text
    d.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    toggle.click()
    assert d.find_element(By.CSS_SELECTOR, f'g.node[data-id="{tanh}"]').is_displayed()
    assert not d.find_elements(By.CSS_SELECTOR, "g.agl-box")
    d.find_element(By.ID, "collapse-all").click()
    assert len(d.find_elements(By.CSS_SELECTOR, "g.agl-box")) == 1  # the outermost only
    assert console_errors(d) == []


@needs_browser
def test_a_20000_node_graph_opens_quickly(browser, tmp_path):
    y = Value(1.0, name="x")
    for _ in range(10_000):  # 20,001 values
        y = y * 1.0001 + 0.5
    y.backward()
    path = tmp_path / "chain.html"
    start = time.perf_counter()
    viz.save_graph(y, path)  # folded at 500 values, as every drawing
    written = time.perf_counter() - start
    ready_ms = open_page(browser, path)
    print(
        f"\n20,001-value chain: page written in {written:.2f} s "
        f"({path.stat().st_size / 1e6:.1f} MB), ready in the browser {ready_ms:.0f} ms "
        f"after navigation"
    )
    assert console_errors(browser) == []
    notes = browser.execute_script("return document.getElementById('notes').textContent")
    assert "Folded" in notes
    browser.execute_script("AGL.search('mul')")
    hits = browser.execute_script("return document.getElementById('hits').textContent")
    assert int(hits.split()[0]) >= 200


# ------------------------------------------------------------------- hostile names
# Every name below is drawn on a page that must run no script of its, inject no element
# and still render: the placeholders of the page template, script and comment openers,
# attribute breakers, JS string/template breakers, direction marks, line/paragraph
# separators, NUL, and a long name. The payloads set window.__pwned or call alert().

PWN = "window.__pwned=1"
PLACEHOLDERS = ("%TITLE%", "%CSS%", "%JS%", "%SVG%", "%DATA%")
HOSTILE = {
    **{p.strip("%").lower(): p for p in PLACEHOLDERS},
    "end-script": f"</script><script>{PWN}</script>",
    "comment": "<!--",
    "comment-script": "<!--<script>",
    "end-comment": "-->",
    "img": f"<img src=x onerror={PWN}>",
    "img-alert": "<img src=x onerror=alert(1)>",
    "svg-onload": f"<svg onload={PWN}>",
    "quotes": f"\"'><img src=x onerror={PWN}>",
    "attr": f'" onmouseover="{PWN}" x="',
    "backtick": f"`;{PWN};//",
    "backtick-alert": "`;alert(4);//",
    "template": "${alert(1)}",
    "json-break": f'"}}]);{PWN};//',
    "entity": "&lt;img src=x onerror=alert(1)&gt; &amp; &#60;b&#62;",
    "rtl": "\u202egnp.exe",
    "separators": f"a\u2028b\u2029c\u2028{PWN}",
    "nul": "a\x00b",
    "backslash": "\\u003c\\x3c\\",
    "long": "<" + "n" * 4_998 + ">",
}


def shown(name: str) -> str:
    """The text a node's label shows for ``name`` (escaped for DOT, then read back)."""
    import html as htmlmod

    return htmlmod.unescape(style.label_text(name)).replace("\\\\", "\\")


def hostile_page(path: Path, names: list[str], title: str = "hostile") -> list[str]:
    """A page of one leaf per name (summed, so every name is a node); dotted copies of
    the first names are module paths (``names=``), so they reach the module tree too."""
    leaves = [Value(float(k), name=n) for k, n in enumerate(names)]
    extra = [(f"{n}.w", Value(1.0)) for n in names[:3]]

    class Model:  # names=model: its dotted parameter names are module boxes
        def named_parameters(self):
            return iter(extra)

    zero = Value(0.0, requires_grad=False)
    y = sum(leaves, zero) + sum((v for _, v in extra), zero)
    y.backward()
    path.write_text(page(ag.draw_graph(y, names=Model()), title=title), encoding="utf-8")
    return names


def assert_no_script_ran(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - raises when no alert is open
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    injected = driver.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll("
        "'img, iframe, object, embed, svg svg, [onerror], [onload], [onmouseover]'),"
        " function (e) { return e.outerHTML.slice(0, 80); })"
    )
    assert injected == []
    assert len(driver.find_elements("css selector", "script")) == 2  # data and viewer


def open_hostile(driver, path: Path, names: list[str]) -> dict:
    """Open the page, exercise the viewer (select every node, search, collapse every
    module), check that nothing ran; returns {name: node text} of the drawn leaves."""
    open_page(driver, path)
    assert_no_script_ran(driver)
    assert driver.execute_script("return document.body.dataset.ready") == "1"  # it rendered
    texts = driver.execute_script(
        "var out = {}, nodes = AGL.data.nodes;"
        "Object.keys(nodes).forEach(function (id) {"
        "  var g = document.querySelector('g.node[data-id=\"' + id + '\"]');"
        "  if (g && nodes[id].kind === 'input') out[nodes[id].name] = g.textContent;"
        "  AGL.select(id);"
        "});"
        "AGL.search('<'); AGL.search('%'); AGL.search('`');"
        "document.getElementById('collapse-all').click();"
        "return out;"
    )
    assert driver.find_elements("css selector", "#modules li")  # the module tree too
    assert_no_script_ran(driver)
    assert console_errors(driver) == []
    assert set(texts) == set(names)  # every name drawn, as its full text in the data
    return texts


@pytest.fixture(scope="module")
def all_names_page(browser, tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "all.html"
    names = hostile_page(path, list(HOSTILE.values()), title="%SVG%</title><script>")
    texts = open_hostile(browser, path, names)
    title = browser.execute_script("return document.title")
    return texts, title


@needs_browser
@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_hostile_name_is_drawn_as_text(all_names_page, key):
    texts, title = all_names_page
    name = HOSTILE[key]
    assert shown(name) in texts[name]  # the node shows the name, escaped, as text
    assert title == "%SVG%</title><script>"


@needs_browser
@pytest.mark.parametrize(
    "names",
    [
        ["%DATA%", HOSTILE["img-alert"]],  # the exploit: a placeholder, a payload
        ["%DATA%", HOSTILE["backtick-alert"]],
        ["%SVG%", "%JS%", HOSTILE["end-script"]],
        ["%CSS%", HOSTILE["quotes"]],
        ["<!--<script>"],  # alone: stopped the viewer from loading at all
    ],
    ids=["data+img", "data+backtick", "svg+js+script", "css+quotes", "comment-script"],
)
def test_hostile_names_that_interact(browser, tmp_path, names):
    texts = open_hostile(
        browser, tmp_path / "page.html", hostile_page(tmp_path / "page.html", names)
    )
    for name in names:
        assert shown(name) in texts[name]


@needs_render
def test_page_data_cannot_end_its_script_and_reads_back(tmp_path):
    names = list(HOSTILE.values())
    path = tmp_path / "g.html"
    hostile_page(path, names)
    text = path.read_text(encoding="utf-8")
    blob = re.search(r'id="graph-data">(.*?)</script>', text, re.S).group(1)
    assert not set(blob) & set("<>&\u2028\u2029")
    got = {d["name"] for d in json.loads(blob)["nodes"].values() if d["kind"] == "input"}
    assert got == set(names)
    # the template is filled once: each part exactly once, no placeholder filled twice
    assert text.count("<svg") == 1 and text.count('id="graph-data"') == 1
    assert text.count("<script>") == 1 and text.count("<style>") == 1


@needs_render
def test_title_is_text_and_filled_once():
    y = Value(1.0, name="x") * 2
    for title in ("%SVG%", "%DATA%", "</title><script>alert(1)</script>"):
        text = page(ag.draw_graph(y), title=title)
        head = text[: text.index("</title>")]
        assert "<svg" not in head and "graph-data" not in head and "<script" not in head
        assert text.count("<svg") == 1
    text = page(ag.draw_graph(y), title="a\udc80b")  # a lone surrogate in the title
    assert "<title>a\\udc80b</title>" in text and text.encode("utf-8")


@needs_render
@pytest.mark.parametrize(
    "name, text",
    [(b"by\x00tes", "b'by\\x00tes'"), (float("nan"), "nan"), (3, "3"), (("a", 1), "('a', 1)")],
)
def test_a_name_that_is_not_a_string_is_drawn_as_its_repr(tmp_path, name, text):
    class Odd:
        def __repr__(self):
            raise RuntimeError("no repr")

    for n, t in ((name, text), (Odd(), None)):
        x = Value(1.0, name=n)
        y = x * 2
        y.backward()
        path = tmp_path / "g.html"
        viz.save_graph(y, path)
        (got,) = [
            d["name"]
            for d in page_data(path.read_text("utf-8"))["nodes"].values()
            if d["kind"] == "input"
        ]
        assert got == (t if t is not None else object.__repr__(n))
        assert style.label_text(got) in ag.to_dot(y)  # the DOT label shows the same text
