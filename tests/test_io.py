"""JSON Lines reading: one entry per line, bad lines included, never a crash."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gritkit.io import Line, parse_line, read_jsonl


def read(data: bytes) -> list[tuple]:
    return [tuple(x) for x in read_jsonl(io.BytesIO(data))]


def test_good_lines():
    assert read(b'{"a": 1}\n{"b": [2]}\n') == [(0, {"a": 1}, None), (1, {"b": [2]}, None)]


def test_last_line_without_newline_is_a_record():
    assert read(b'{"a": 1}\n{"b": 2}') == [(0, {"a": 1}, None), (1, {"b": 2}, None)]


def test_final_newline_does_not_add_a_record_but_blank_lines_are_records():
    got = read(b'{"a": 1}\n\n   \n{"b": 2}\n')
    assert got == [(0, {"a": 1}, None), (1, None, "line 2: blank line; expected a JSON object"),
                   (2, None, "line 3: blank line; expected a JSON object"), (3, {"b": 2}, None)]
    assert read(b"") == []
    assert read(b"\n") == [(0, None, "line 1: blank line; expected a JSON object")]


@pytest.mark.parametrize("raw, error", [
    (b"{bad json}", "line 1: not valid JSON: Expecting property name enclosed in double quotes at column 2"),
    (b"[1, 2]", "line 1: expected a JSON object ({...}), got a list"),
    (b'"text"', "line 1: expected a JSON object ({...}), got a string"),
    (b"3", "line 1: expected a JSON object ({...}), got a number"),
    (b"null", "line 1: expected a JSON object ({...}), got null"),
    (b"true", "line 1: expected a JSON object ({...}), got a boolean"),
    (b'{"a": "\xff"}', "line 1: not valid UTF-8 (byte 7: b'\\xff')"),
    (b'{"a": 1} trailing', "line 1: not valid JSON: Extra data at column 10"),
    (b"[" * 100000, "line 1: not valid JSON: nested too deeply"),
])
def test_bad_lines_get_an_error(raw, error):
    assert read(raw + b"\n") == [(0, None, error)]


def test_bom_crlf_and_text_streams():
    assert read(b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\r\n') == [(0, {"a": 1}, None), (1, {"b": 2}, None)]
    assert [tuple(x) for x in read_jsonl(io.StringIO('{"a": 1}\nx\n'))] == [
        (0, {"a": 1}, None), (1, None, "line 2: not valid JSON: Expecting value at column 1")]


def test_paths_and_line_numbers(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\nnope\n')
    lines = list(read_jsonl(path))
    assert lines[1] == Line(1, None, "line 2: not valid JSON: Expecting value at column 1")
    assert lines[1].line == 2
    assert list(read_jsonl(str(path))) == lines


def test_stdin():
    code = "import sys; from gritkit.io import read_jsonl; print([tuple(x) for x in read_jsonl('-')])"
    out = subprocess.run([sys.executable, "-c", code], input=b'{"a": 1}\n[]\n', capture_output=True,
                         check=True).stdout.decode()
    assert out.strip() == "[(0, {'a': 1}, None), (1, None, 'line 2: expected a JSON object ({...}), got a list')]"


def test_missing_file_raises_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_jsonl(tmp_path / "missing.jsonl"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20),
       st.booleans())
def test_one_entry_per_line_for_any_bytes(lines, final_newline):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    got = read(data)
    # every newline ends a line, and text after the last newline is one more line
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    assert len(got) == expected
    assert [g[0] for g in got] == list(range(expected))
    assert all((rec is None) != (err is None) for _, rec, err in got)


def test_parse_line_str():
    assert parse_line('{"x": 1}', 5) == Line(5, {"x": 1}, None)
