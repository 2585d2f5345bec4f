"""scripts/refresh_docs.py: the docs' blocks are what their repository commands print."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("refresh_docs", REPO / "scripts/refresh_docs.py")
refresh_docs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(refresh_docs)


def test_every_block_of_the_docs_is_what_its_command_prints_now(capsys):
    """The published tables in the docs are regenerated from the run files and compared;
    a number edited by hand, or run files changed without refreshing, fail here."""
    assert refresh_docs.main(["--check"]) == 0, capsys.readouterr()
    documents = refresh_docs.documents(REPO)
    blocks = sum(len(list(refresh_docs.BLOCK.finditer(p.read_text()))) for p in documents)
    assert blocks >= 3


def test_a_stale_block_is_named_then_rewritten_and_other_text_kept(tmp_path, capsys):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks/table.py").write_text("import sys\nprint('| n |', sys.argv[1])\n")
    (tmp_path / "docs").mkdir()
    block = "<!-- output of: python benchmarks/table.py 7 -->\n{}<!-- end of output -->"
    text = "# Title\n\n" + block.format("| n | 6\n") + "\n\nafter\n"
    (tmp_path / "README.md").write_text(text)
    (tmp_path / "docs/other.md").write_text("no blocks\n")
    check = ["--check", "--root", str(tmp_path)]
    assert refresh_docs.main(check) == 1
    printed = capsys.readouterr()
    assert "README.md is stale" in printed.err and "other.md" not in printed.err
    assert "-| n | 6" in printed.out and "+| n | 7" in printed.out
    assert (tmp_path / "README.md").read_text() == text  # --check writes nothing
    assert refresh_docs.main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").read_text() == text.replace("| n | 6", "| n | 7")
    assert refresh_docs.main(check) == 0


def test_only_the_repositorys_commands_run(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ValueError, match="not a repository command"):
        refresh_docs.output(f"touch {marker}", tmp_path)
    with pytest.raises(ValueError, match="not a repository command"):
        refresh_docs.output("python -c 'print(1)'", tmp_path)
    assert not marker.exists()
    for writes in ("optprior tables docs/results/paper", "python scripts/publish_runs.py a b"):
        with pytest.raises(ValueError, match="only prints"):  # --check writes nothing
            refresh_docs.output(writes, REPO)


def test_a_failing_command_is_named_with_its_error(tmp_path):
    with pytest.raises(RuntimeError, match="exited 2:\n.*no runs in"):
        refresh_docs.output("optprior tables . --print runs", tmp_path)
