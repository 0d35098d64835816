"""The page `dvc plots show` fills (DVC's `plots.html_template`), with Vega, Vega-Lite and Vega-Embed inlined.

DVC's own page loads the three libraries from a CDN, so offline it shows nothing. vl-convert-python (already used
for the report's PNGs) carries the same libraries as one bundle; written into the template, the page needs no
network. DVC fills `{plot_divs}` (each plot calls `vegaEmbed`) and `{refresh_tag}`; the template has no
`{scripts}`, which is where DVC would put its CDN tags.
"""
from __future__ import annotations

from rankcert.runtime.errors import RankcertError

PLACEHOLDERS = ("{scripts}", "{plot_divs}", "{refresh_tag}")  # DVC's (dvc_render.html.HTML)

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>rankcert plots</title>
<!-- @LIBRARIES@, inlined from vl-convert-python: no network needed -->
<script>
(function () {
@BUNDLE@
})();
</script>
<style>table { border-spacing: 15px; }</style>
</head>
<body>
{plot_divs}
</body>
</html>
"""


def page_template() -> str:
    """The HTML template, the same bytes for the same vl-convert version."""
    try:
        import vl_convert
    except ImportError as err:
        raise RankcertError("the offline plots page needs vl-convert-python (`pip install -c constraints.txt "
                            "vl-convert-python`)") from err
    libraries = (f"Vega {vl_convert.get_vega_version()}, Vega-Lite {vl_convert.get_vegalite_versions()[-1]} and "
                 f"Vega-Embed {vl_convert.get_vega_embed_version()}")
    return fill(vl_convert.javascript_bundle(), libraries)


def fill(bundle: str, libraries: str) -> str:
    """PAGE with `bundle` inside its script element, in a function scope (its top-level names would clash with
    DVC's `var spec`); the bundle assigns vegaEmbed, vega and vegaLite to window itself."""
    clash = [p for p in PLACEHOLDERS if p in bundle]
    if clash:  # DVC would replace them inside the script
        raise RankcertError(f"the vl-convert bundle contains DVC's placeholder(s) {clash}; pin another vl-convert-python")
    # `</script` would end the element early; `<\/script` is the same text inside any JavaScript string or regex
    return PAGE.replace("@LIBRARIES@", libraries).replace("@BUNDLE@", bundle.replace("</script", "<\\/script"))
