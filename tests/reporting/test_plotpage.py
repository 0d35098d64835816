"""The `dvc plots show` page template: the Vega libraries inlined, DVC's CDN tags never inserted."""
import json
import re
from pathlib import Path

import pytest
from dvc_render import render_html
from dvc_render.vega import VegaRenderer

from rankcert.reporting.plotpage import fill
from rankcert.runtime.errors import RankcertError
from rankcert.runtime.layout import LAYOUT
from tests.helpers import PROJECT

REMOTE_SRC = re.compile(r"""\bsrc\s*=\s*["']?(https?:)?//""", re.IGNORECASE)
FAKE = "window.vegaEmbed = function () {}; var tag = '</script>';"


def test_the_bundle_is_scoped_and_cannot_end_its_script_element_early():
    page = fill(FAKE, "Vega 1")
    assert "{plot_divs}" in page and "{refresh_tag}" in page and "{scripts}" not in page
    assert "(function () {\nwindow.vegaEmbed = function () {}; var tag = '<\\/script>';\n})();" in page
    assert page.count("</script>") == 1 and "Vega 1, inlined from vl-convert-python" in page


def test_a_bundle_holding_a_dvc_placeholder_is_refused():
    with pytest.raises(RankcertError, match=r"placeholder\(s\) \['\{plot_divs\}'\]"):
        fill("var x = '{plot_divs}';", "Vega 1")


def test_the_page_dvc_renders_from_it_has_no_remote_script(tmp_path):
    template = tmp_path / "page.html"
    template.write_text(fill(FAKE, "Vega 1"))
    rows = [{"variant": "uniform_r8", "seeds": 3, "eval": "300", "safe_share": 0.9, "rev": "workspace"}]
    plot = VegaRenderer(rows, "evidence", template=str(PROJECT / LAYOUT.plot_templates / "evidence.json"),
                        x="seeds", y="safe_share")
    html = Path(render_html([plot], tmp_path / "out" / "index.html", html_template=str(template))).read_text()
    assert not REMOTE_SRC.search(html) and "cdn.jsdelivr" not in html  # DVC's own page loads three CDN scripts
    assert "vegaEmbed('#" in html and json.dumps("uniform_r8") in html


def test_the_project_points_dvc_at_the_page_its_pipeline_writes():
    config = (PROJECT / ".dvc" / "config").read_text()
    assert re.search(r"^\s*html_template = \.\./plots/page\.html$", config, re.M)
    assert (PROJECT / ".dvc" / "../plots/page.html").resolve() == (PROJECT / LAYOUT.plot_page).resolve()
