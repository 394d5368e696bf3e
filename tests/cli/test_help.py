"""``gaugemesh --help`` answers without importing torch (it took about 7 s on 2 cores)."""

import subprocess
import sys

from gaugemesh.cli import main


def test_building_every_subcommand_parser_imports_neither_torch_nor_pyg():
    code = ("import sys, gaugemesh.cli; gaugemesh.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torch_geometric')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_subcommand_has_help(capsys):
    for command in ("train", "eval", "predict", "preprocess", "make-synthetic", "download"):
        try:
            main([command, "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0
        assert "usage: gaugemesh " + command in capsys.readouterr().out
