"""The one codec between records and JSON/YAML data (rankcert.config.codec): what params, the stages' records, the
policy and the certificate share."""
from dataclasses import dataclass, field

import pytest

from rankcert.certification.words import Safety
from rankcert.config import codec
from rankcert.runtime.errors import RankcertError


@dataclass(frozen=True)
class Inner:
    verdict: Safety
    share: float | None


@dataclass(frozen=True)
class Outer:
    seeds: dict[int, Inner]
    note: str | None  # no default: always written, null included
    extra: str | None = None  # a default: left out while at it
    tags: list[str] = field(default_factory=list)


def test_a_record_round_trips_enums_by_value_int_keys_in_numeric_order_and_defaults_left_out():
    record = Outer({10: Inner(Safety.SAFE, 0.5), 9: Inner(Safety.UNSAFE, None)}, None)
    data = codec.dump(record)
    assert data == {"seeds": {"10": {"verdict": "SAFE", "share": 0.5}, "9": {"verdict": "UNSAFE", "share": None}},
                    "note": None}
    back = codec.load(Outer, data)
    assert back == record and list(back.seeds) == [9, 10]  # JSON's text keys read back as the seeds they were
    assert codec.load(Outer, {**data, "tags": ["a"]}).tags == ["a"]


@pytest.mark.parametrize("raw,message", [
    ({"seeds": {}, "note": None, "extras": "x"}, "unknown key 'extras'; did you mean 'extra'?"),
    ({"seeds": {}}, "missing key 'note'"),
    ({"seeds": {"x": {"verdict": "SAFE", "share": 1}}, "note": None}, "seeds key must be an integer, not 'x'"),
    ({"seeds": {"1": {"verdict": "safe", "share": 1}}, "note": None},
     "seeds.1.verdict must be SAFE, UNSAFE or UNSETTLED, not 'safe'"),
    ({"seeds": {"1": {"verdict": "SAFE", "share": "most"}}, "note": None},
     "seeds.1.share must be a number or null, not 'most'"),
    ({"seeds": [], "note": None}, "seeds must be a mapping, not []"),
])
def test_bad_data_is_one_line_naming_the_key_by_its_path(raw, message):
    with pytest.raises(RankcertError) as err:
        codec.load(Outer, raw)
    assert str(err.value) == message


def test_a_file_is_refused_in_one_line_naming_it_and_what_to_do(tmp_path):
    path = tmp_path / "o.json"
    with pytest.raises(RankcertError, match=r"o.json not found; rerun it$"):
        codec.read(path, Outer, "outer record", "rerun it")
    path.write_text('{"seeds": {}, "note": 3}')
    with pytest.raises(RankcertError) as err:
        codec.read(path, Outer, "outer record", "rerun it")
    assert str(err.value) == (f"{path} is not the outer record this rankcert writes (note must be a non-empty string "
                              "or null, not 3: written by another version, or edited); rerun it")
