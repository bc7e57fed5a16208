"""`perdure --version`."""

import pytest

from perdure import __version__
from perdure.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"perdure {__version__}\n"
