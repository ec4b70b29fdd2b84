"""Sphinx configuration of the skdeepclust documentation.

Build with ``.ci/docs`` (warnings are errors), or by hand::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference is generated at every build from what is importable: each public
subpackage's ``__all__`` and every module of ``skdeepclust.nn`` (see ``API_SECTIONS``), so
a new estimator appears without editing the docs. Generated files go to ``docs/api/`` and
``docs/_generated/`` (git-ignored).

The gallery (sphinx-gallery) is built from ``examples/``: every ``plot_*.py`` runs (its
default, quick settings: each well under a minute on 2 CPU cores) and a failing example
fails the build. ``SKDEEPCLUST_DOCS_GALLERY=0`` (``.ci/docs --no-gallery``) renders the
examples without running them, for a build of a couple of minutes;
``SKDEEPCLUST_DOCS_JOBS`` runs that many examples at a time (default 1).

Examples that read MNIST find it through ``$SKDEEPCLUST_MNIST``; when it is unset, the
build sets it to the project's ``../shared/data/mnist.npz`` if that exists. Without any
MNIST file those examples run on scikit-learn's 8x8 digits instead, and their output says
so and quotes the MNIST figures: every example runs without extra files.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import skdeepclust

# -- project ------------------------------------------------------------------------------
project = "skdeepclust"
author = "skdeepclust developers"
copyright = "skdeepclust developers, BSD-3-Clause"
release = skdeepclust.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # ships MathJax in _static/mathjax: formulas render offline
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
]

templates_path = ["_templates"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_generated",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.json",
]
# Headings of benchmarks/README.md (written by many hands) may skip levels, and its
# relative links point at scripts, not documents.
# numpydoc References sections list the works behind a model without citing each in the
# text, which Sphinx reports as "Citation [R...] is not referenced".
suppress_warnings = ["myst.header", "myst.xref_missing", "ref.citation"]

# -- HTML ---------------------------------------------------------------------------------
# MathJax comes with the build (the sphinx-mathjax-offline extension copies MathJax 3 and
# its fonts into _static/mathjax), never from a CDN: the pages render their formulas
# offline. ``.ci/docs`` fails when a built page loads a script or stylesheet from the
# network.
mathjax_path = "mathjax/tex-chtml.js"
html_theme = "pydata_sphinx_theme"
html_title = f"skdeepclust {release}"
html_static_path: list[str] = []
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False

# -- figures of the user guide (``.. plot::``, run at every build: keep them small) ------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.max_open_warning": 0}

# -- autodoc / autosummary / numpydoc ------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autoclass_content = "class"
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False

# Methods inherited from scikit-learn that are worth listing on every estimator's page;
# the rest (metadata routing, set_output, ...) are documented by scikit-learn itself.
_SKLEARN_MEMBERS_SHOWN = {
    "fit_predict",
    "fit_transform",
    "get_params",
    "set_params",
    "score",
}


_SKLEARN_ROLE = re.compile(r":(ref|term):`(?:([^`<]+?)\s*<[^`>]*>|([^`]+))`")


def _strip_sklearn_links(app, what, name, obj, options, lines):
    """Inherited scikit-learn methods (``get_params``, ``fit_transform``, ...) keep their
    docstrings, minus the ``:ref:`` and ``:term:`` links into scikit-learn's own
    documentation, which cannot resolve here (no intersphinx: the build runs offline).

    skdeepclust's own docstrings are not rewritten: they must build as written.
    """
    if _defining_module(obj).startswith("sklearn"):
        lines[:] = [_SKLEARN_ROLE.sub(lambda m: (m.group(2) or m.group(3)).strip(), line)
                    for line in lines]


def _defining_module(obj) -> str:
    target = getattr(obj, "fget", obj)  # properties
    return getattr(target, "__module__", None) or ""


def _skip_member(app, what, name, obj, skip, options):
    """Keep estimator pages about skdeepclust: fitted attributes and foreign members go."""
    if what != "class" or name.startswith("__"):
        return None
    if name.endswith("_") and not name.startswith("_"):
        return True  # fitted attributes are documented in the Attributes section
    module = _defining_module(obj)
    if module and not module.startswith("skdeepclust"):
        return name not in _SKLEARN_MEMBERS_SHOWN or not module.startswith("sklearn")
    return None


# -- API reference, generated from the package ---------------------------------------------
#: (module, title) in page order.
API_SECTIONS = [
    ("skdeepclust.cluster", "Clustering"),
    ("skdeepclust.representation", "Representation learning"),
    ("skdeepclust.neural_network", "Energy-based models"),
    ("skdeepclust.flow", "Normalizing flows"),
    ("skdeepclust.preprocessing", "Preprocessing"),
    ("skdeepclust.metrics", "Metrics"),
    ("skdeepclust.datasets", "Datasets"),
    ("skdeepclust.plotting", "Plotting"),
    ("skdeepclust.utils", "Utilities"),
    ("skdeepclust.exceptions", "Exceptions and warnings"),
]
NN_PACKAGE = "skdeepclust.nn"


def _import(modname: str):
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as exc:  # a subpackage not written yet
        if exc.name == modname:
            return None
        raise


def _public_objects(module) -> list[str]:
    """Classes and functions of ``module``'s public API that skdeepclust defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, o in vars(module).items()
                 if not n.startswith("_") and getattr(o, "__module__", None) == module.__name__]
    keep = []
    for name in names:
        obj = getattr(module, name, None)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # registries and constants are described in the text
        if not (getattr(obj, "__module__", "") or "").startswith("skdeepclust"):
            continue  # re-exports from scikit-learn
        keep.append(name)
    return sorted(keep, key=lambda n: (not inspect.isclass(getattr(module, n)), n))


def _section(modname: str, title: str, names: list[str], level: str) -> str:
    classes = [n for n in names if inspect.isclass(getattr(sys.modules[modname], n))]
    functions = [n for n in names if n not in classes]
    lines = [title, level * len(title), "", f".. automodule:: {modname}", "   :no-members:",
             "   :no-index:", "", f".. currentmodule:: {modname}", ""]
    for group in (classes, functions):  # templates: _templates/autosummary/{class,function}.rst
        if not group:
            continue
        lines += [".. autosummary::", "   :toctree: generated/", "   :nosignatures:", ""]
        lines += [f"   {n}" for n in group] + [""]
    return "\n".join(lines) + "\n"


def write_api_reference() -> None:
    """Write ``docs/api/index.rst`` from the importable public API."""
    api = DOCS / "api"
    shutil.rmtree(api, ignore_errors=True)  # no stale pages of removed objects
    api.mkdir()
    parts = [
        (".. _api:\n\n=============\nAPI reference\n=============\n\n"
        "Everything below is generated from the package at build time: the ``__all__`` of "
        "each public subpackage and every module of :mod:`skdeepclust.nn`. Estimators are "
        "importable from their subpackage (``from skdeepclust.cluster import "
        "DECClustering``) and from ``skdeepclust`` itself.\n\n"
        ".. contents:: Sections\n   :local:\n   :depth: 1\n\n")
    ]
    for modname, title in API_SECTIONS:
        module = _import(modname)
        names = _public_objects(module) if module is not None else []
        if names:
            parts.append(_section(modname, title, names, "="))
    nn = importlib.import_module(NN_PACKAGE)
    nn_parts = []
    for info in sorted(pkgutil.iter_modules(nn.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        modname = f"{NN_PACKAGE}.{info.name}"
        names = _public_objects(importlib.import_module(modname))
        if names:
            nn_parts.append(_section(modname, f":mod:`{modname}`", names, "-"))
    if nn_parts:
        parts.append(
            "Torch modules\n=============\n\n"
            "Plain :class:`torch.nn.Module` building blocks and functions, without "
            "scikit-learn: the estimators build them in ``fit`` and keep them as "
            "``module_``. Use them directly with your own training loop.\n\n"
        )
        parts.extend(nn_parts)
    (api / "index.rst").write_text("\n".join(parts))


def write_benchmarks_page() -> None:
    """Copy benchmarks/README.md (minus its title) for ``benchmarks.md`` to include."""
    out = DOCS / "_generated"
    out.mkdir(exist_ok=True)
    source = ROOT / "benchmarks" / "README.md"
    if source.exists():
        lines = source.read_text().splitlines()
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is not None and lines[first].startswith("# "):
            lines = lines[first + 1:]
        text = "\n".join(lines) + "\n"
    else:
        text = "No benchmark figures have been recorded yet (`benchmarks/README.md`).\n"
    (out / "benchmarks.md").write_text(text)


write_api_reference()
write_benchmarks_page()

# -- gallery ------------------------------------------------------------------------------
EXAMPLES = ROOT / "examples"
_RUN_EXAMPLES = os.environ.get("SKDEEPCLUST_DOCS_GALLERY", "1").lower() not in {"0", "false", "no"}
_JOBS = int(os.environ.get("SKDEEPCLUST_DOCS_JOBS", "1"))


def _point_at_mnist() -> None:
    """Point ``$SKDEEPCLUST_MNIST`` at the project's MNIST file when it is unset.

    sphinx-gallery runs the examples in this process, without ``__file__`` and from
    ``examples/``, so they cannot find the file relative to themselves. Without the file
    the MNIST examples fall back to scikit-learn's digits (and say so in their output).
    """
    default = ROOT.parent / "shared" / "data" / "mnist.npz"
    if not os.environ.get("SKDEEPCLUST_MNIST") and default.is_file():
        os.environ["SKDEEPCLUST_MNIST"] = str(default)


_point_at_mnist()

sphinx_gallery_conf = {
    "examples_dirs": [str(EXAMPLES)],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|/_[^/]*)\.py$",
    "plot_gallery": _RUN_EXAMPLES,
    "parallel": _JOBS if _JOBS > 1 else False,
    "doc_module": ("skdeepclust",),
    "backreferences_dir": "gen_modules/backreferences",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "min_reported_time": 0,
    "matplotlib_animations": False,
}


#: sphinx-gallery's execution-time pages load jQuery and DataTables from CDNs to make the
#: table sortable; the raw HTML block that does it goes, the table stays (offline docs).
_CDN_TABLE_SCRIPTS = re.compile(
    r"^  \.\. raw:: html\n.*?</script>\n(?=\n  \.\. list-table::)", re.DOTALL | re.MULTILINE)


def _drop_cdn_scripts(app, docname, source):
    if docname.endswith("sg_execution_times"):
        source[0] = _CDN_TABLE_SCRIPTS.sub("", source[0])


def setup(app):
    app.connect("source-read", _drop_cdn_scripts)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _strip_sklearn_links, priority=100)  # before numpydoc
