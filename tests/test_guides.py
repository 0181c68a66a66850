"""Every guide runs, with small settings, on the current backend."""

import os
import runpy

import pytest

GUIDES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "guides")


@pytest.mark.parametrize("guide", sorted(f for f in os.listdir(GUIDES) if f.endswith(".py")))
def test_guide_runs(guide, monkeypatch):
    monkeypatch.setenv("SMALL", "1")
    runpy.run_path(os.path.join(GUIDES, guide), run_name="__main__")
