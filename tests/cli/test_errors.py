"""The command line reports bad input in one line with exit code 2, without a traceback."""

from pathlib import Path

from gaugemesh.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "synthetic" / "config.toml"


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    cases = [
        (["eval", "--checkpoint", str(tmp_path / "bad.pt"), "--data", str(tmp_path)], "corrupt"),
        (["predict", str(tmp_path / "missing.obj"), "--checkpoint", str(tmp_path / "bad.pt"), "--out", str(tmp_path)],
         "corrupt"),
        (["train", "--config", str(tmp_path / "missing.toml")], "no config file"),
        (["train", "--config", str(CONFIG), "nosuch"], "section.key=value"),
    ]
    for argv, words in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and err.count("\n") == 1, err
