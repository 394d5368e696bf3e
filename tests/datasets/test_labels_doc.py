"""docs/labels.md's worked example runs as written and prints what the page says."""

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "labels.md"


def test_labels_page_python_blocks_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert blocks, "docs/labels.md has no Python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), {"__name__": "labels_doc"})
    printed = capsys.readouterr().out.splitlines()
    # The comments in the block say what it prints; hold the page to them.
    expected = [m.split("# ", 1)[1].split(":")[0].strip() for m in re.findall(r"print\(.*", blocks[0])]
    assert printed[0] == expected[0]
    assert printed[1].replace(" ", "") == expected[1].replace(" ", "")
