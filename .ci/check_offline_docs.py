"""Check that the built HTML documentation works without a network connection.

Run by ``.ci/docs`` after the build; ``python .ci/check_offline_docs.py [HTML_DIR]`` by hand
(default ``docs/_build/html``). It fails (exit status 1, one line per problem) when

* a page loads a script, stylesheet, image, icon or frame from the network (an absolute
  ``http(s)://`` or protocol-relative ``//`` address: a CDN), or from a relative path that
  is not in the build;
* a stylesheet of the build imports or points at a file on the network (``url(http...)``);
* a page has formulas but the build ships no MathJax (``_static/mathjax``, copied by the
  ``sphinx-mathjax-offline`` extension) or the page loads it from elsewhere;
* with Node.js installed: a formula of the pages does not typeset with the shipped MathJax
  (a TeX error, or an undefined macro). Every formula is typeset by the build's own
  ``_static/mathjax/node-main.js`` from local files only; without ``node`` this step is
  skipped and says so.

Links (``<a href>``) to other sites are fine: they are not needed to read the page.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: (tag, attribute) pairs whose URL the browser fetches to render the page.
LOADED = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
          ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")}
#: ``<link rel=...>`` values that make the browser fetch ``href``.
LOADED_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload",
                    "apple-touch-icon", "manifest"}
NETWORK = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_NETWORK_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])((?:https?:)?//[^'")\s]+)""",
                             re.IGNORECASE)
#: Sphinx's mathjax extension writes inline maths as \( \) and display maths as \[ \].
FORMULA = re.compile(r'class="math[^"]*">(.*?)</(?:span|div)>', re.DOTALL)
MATHJAX_SCRIPT = "_static/mathjax/tex-chtml.js"

TYPESET_JS = r"""
const path = require('path');
const MathJax = require(path.resolve(process.argv[2], 'node-main.js'));
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const formulas = JSON.parse(input);
  MathJax.init({loader: {load: ['input/tex', 'output/chtml']}}).then((MJ) => {
    const bad = [];
    for (const [tex, display] of formulas) {
      let out;
      try {
        out = MJ.startup.adaptor.outerHTML(MJ.tex2chtml(tex, {display: display}));
      } catch (err) {
        bad.push([tex, String(err.message || err)]);
        continue;
      }
      if (/<mjx-merror|data-mjx-error/.test(out)) bad.push([tex, 'TeX error']);
      else if (/color: red/.test(out) && !/\\color/.test(tex)) bad.push([tex, 'undefined macro']);
    }
    console.log(JSON.stringify({typeset: formulas.length, bad: bad}));
  }).catch((err) => { console.error(String(err)); process.exit(2); });
});
"""


class _Resources(HTMLParser):
    """Collect the URLs a page makes the browser fetch."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link":
            rels = set((attrs.get("rel") or "").lower().split())
            if rels & LOADED_LINK_RELS and attrs.get("href"):
                self.urls.append((f"<link rel={'/'.join(sorted(rels))}>", attrs["href"]))
            return
        for (t, attr) in LOADED:
            if t == tag and attrs.get(attr):
                self.urls.append((f"<{tag} {attr}>", attrs[attr]))


def _formulas(text: str) -> list[tuple[str, bool]]:
    out = []
    for raw in FORMULA.findall(text):
        tex = html.unescape(raw).strip()
        for start, end, display in (("\\(", "\\)", False), ("\\[", "\\]", True)):
            if tex.startswith(start) and tex.endswith(end):
                out.append((tex[len(start):-len(end)], display))
                break
        else:
            out.append((tex, True))
    return out


def check(root: Path) -> list[str]:
    problems: list[str] = []
    # _static holds the theme's template fragments (Jinja, not pages) and MathJax itself
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.relative_to(root).parts)
    if not pages:
        return [f"no HTML pages under {root}: build the documentation first"]
    formulas: dict[tuple[str, bool], str] = {}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(root)
        parser = _Resources()
        parser.feed(text)
        for what, url in parser.urls:
            if NETWORK.match(url) or url.lower().startswith(("http:", "https:")):
                problems.append(f"{rel}: {what} loads {url} from the network")
                continue
            if url.startswith(("data:", "#", "javascript:")):
                continue
            target = (page.parent / unquote(urlsplit(url).path)).resolve()
            if not target.exists():
                problems.append(f"{rel}: {what} {url} is not in the build")
        page_formulas = _formulas(text)
        if page_formulas:
            if not any(url.split("?")[0].endswith(MATHJAX_SCRIPT.split("/", 1)[1])
                       and not NETWORK.match(url) for _, url in parser.urls):
                problems.append(f"{rel}: has formulas but does not load the shipped "
                                f"{MATHJAX_SCRIPT}")
            for formula in page_formulas:
                formulas.setdefault(formula, str(rel))
    for css in sorted(root.rglob("*.css")):
        for url in CSS_NETWORK_URL.findall(css.read_text(encoding="utf-8", errors="replace")):
            problems.append(f"{css.relative_to(root)}: loads {url} from the network")
    mathjax = root / "_static" / "mathjax"
    if formulas and not (mathjax / "tex-chtml.js").is_file():
        problems.append(f"{len(formulas)} formulas but no {MATHJAX_SCRIPT} in the build: is the "
                        "sphinx-mathjax-offline extension installed and listed in conf.py?")
    fonts = mathjax / "output" / "chtml" / "fonts" / "woff-v2"
    if formulas and not any(fonts.glob("*.woff")):
        problems.append(f"no MathJax fonts in {fonts.relative_to(root)}")
    if formulas and not problems:
        problems += _typeset(mathjax, formulas)
    return problems


def _typeset(mathjax: Path, formulas: dict[tuple[str, bool], str]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        print(f"check_offline_docs: node not found; {len(formulas)} formulas not typeset "
              "(install Node.js to check them)")
        return []
    with tempfile.TemporaryDirectory() as tmp:  # node -e would not set up MathJax's globals
        script = Path(tmp) / "typeset.js"
        script.write_text(TYPESET_JS)
        result = subprocess.run(
            [node, str(script), str(mathjax.resolve())],
            input=json.dumps([list(f) for f in formulas]), capture_output=True, text=True,
            check=False,
        )
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        return ["the shipped MathJax failed under node: " + " | ".join(tail)]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"check_offline_docs: {report['typeset']} distinct formulas typeset by the shipped "
          f"MathJax, {len(report['bad'])} failed")
    return [f"{formulas.get((tex, True)) or formulas.get((tex, False))}: formula "
            f"{tex!r} does not typeset ({why})" for tex, why in report["bad"]]


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "docs/_build/html")
    problems = check(root)
    for problem in problems:
        print(f"check_offline_docs: {problem}", file=sys.stderr)
    if problems:
        print(f"check_offline_docs: {len(problems)} problem(s): the documentation does not work "
              "offline", file=sys.stderr)
        return 1
    print(f"check_offline_docs: the pages of {root} load nothing from the network")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
