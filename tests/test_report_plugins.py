"""Report sections as plug-ins: the report is :data:`learnbench.reporting.sections.SECTIONS` in
order, and a new section is one builder function plus one line in that list."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnbench.records import write_record
from learnbench.reporting import build_report, sections
from learnbench.reporting.sections import ReportContext, Section, table_section
from learnbench.reporting.tables import display_plain, failures_table

BASE_TITLES = ["Test accuracy (%)", "Macro-F1 (%)", "Time and throughput", "Failures",
               "Datasets", "Accuracy per dataset", "Reproduction of published figures"]


def _run(run: Path) -> Path:
    for learner, acc in (("logreg", 0.90), ("knn", 0.85)):
        for seed in (0, 1):
            config = {"dataset": "digits", "dataset_params": {}, "learner": learner,
                      "label": learner, "params": {}, "seed": seed, "device": "cpu"}
            write_record(run, {
                "run_id": "r1", "suite": "s", "cell_id": f"digits-{learner}-s{seed}-cpu",
                "config_hash": "0" * 64, "config": config, "status": "ok", "error": None,
                "metrics": {"accuracy": acc + 0.01 * seed, "f1_macro": acc, "fit_seconds": 1.0,
                            "n_train": 100, "n_test": 50},
                "environment": {"git_commit": "a" * 40, "git_dirty": False, "cpu": "Test CPU",
                                "cpu_count": 2, "os": "Linux"},
                "started_at": f"2026-11-25T20:0{seed}:00+00:00", "wall_seconds": 1.0,
            })
    return run


def _md_titles(md: str) -> list[str]:
    return [line[3:] for line in md.splitlines() if line.startswith("## ")][1:]  # no Provenance


def _html_titles(page: str) -> list[str]:
    return [part.split("</h2>", 1)[0] for part in page.split("<h2>")[1:]][1:]


def throwaway(ctx: ReportContext) -> Section:
    """A section that counts the records and writes a file of its own."""
    ctx.write("throwaway.txt", f"{len(ctx.df)} records\n")
    return table_section("Throwaway", f"{len(ctx.df)} records.",
                         lambda _: display_plain(failures_table(ctx.df).head(0)), "throwaway")


def test_a_plugged_in_section_appears_in_place(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    after_timing = sections.SECTIONS.index(sections.timing.section) + 1
    plugged = [*sections.SECTIONS]
    plugged.insert(after_timing, throwaway)
    monkeypatch.setattr(sections, "SECTIONS", plugged)
    out = tmp_path / "out"
    written = build_report([_run(tmp_path / "run")], out)

    expected = [*BASE_TITLES[:3], "Throwaway", *BASE_TITLES[3:]]
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert _md_titles(md) == expected
    assert _html_titles(page) == expected
    assert "## Throwaway\n\n4 records.\n\n|" in md
    assert 'id="T_throwaway"' in page
    # its file is written through the context and returned with the others
    assert out / "throwaway.txt" in written and (out / "throwaway.txt").read_text() == "4 records\n"


def test_builders_return_none_one_or_several_sections(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing(ctx: ReportContext) -> None:
        return None

    def pair(ctx: ReportContext) -> list[Section]:
        return [Section("First of two", "a"), Section("Second of two", "b")]

    monkeypatch.setattr(sections, "SECTIONS", [pair, nothing, sections.failures.section, pair])
    out = tmp_path / "out"
    build_report([_run(tmp_path / "run")], out)
    assert _md_titles((out / "report.md").read_text()) == [
        "First of two", "Second of two", "Failures", "First of two", "Second of two"]


def test_the_list_is_the_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run(tmp_path / "run")
    build_report([run], tmp_path / "default")
    assert _md_titles((tmp_path / "default" / "report.md").read_text()) == BASE_TITLES
    # No section finds its place by another's title: reversing the list reverses the report.
    monkeypatch.setattr(sections, "SECTIONS", sections.SECTIONS[::-1])
    build_report([run], tmp_path / "reversed")
    assert _md_titles((tmp_path / "reversed" / "report.md").read_text()) == BASE_TITLES[::-1]
