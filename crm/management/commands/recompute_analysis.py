"""Recompute every contact's purchase figures, last interaction and RFM segment now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from crm.services.analysis import analysis_recompute

STEPS = ["aggregates", "clean-up", "boundaries", "scores"]


class Command(BaseCommand):
    help = "Recompute customer analysis (purchase figures and RFM segments) for all contacts."

    def handle(self, *args: Any, **options: Any) -> None:
        bar_kwargs = {
            "file": self.stderr._out,
            "disable": options["verbosity"] == 0,
        }  # the raw stream: tqdm rewrites lines
        with tqdm(total=len(STEPS), desc="customer analysis", unit="step", **bar_kwargs) as bar:

            def progress(step: str) -> None:
                bar.set_postfix_str(step)
                if step != STEPS[0]:
                    bar.update(1)

            result = analysis_recompute(progress=progress)
            bar.update(1)
        self.stdout.write(
            f"Analysed {result.contacts} contacts ({result.purchasers} with purchases) in {result.seconds:.1f} s."
        )
