"""Print or write the personal-information inventory (Markdown and JSON).

manage.py pi_inventory                 # Markdown to stdout
manage.py pi_inventory --format json   # JSON to stdout
manage.py pi_inventory --write         # docs/POPIA_COMPLIANCE.md and docs/pi_inventory.json
manage.py pi_inventory --check         # exit 1 when the committed files are stale (CI)
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compliance.pi.inventory import inventory, render_json, render_markdown

MARKDOWN_PATH = Path("docs/POPIA_COMPLIANCE.md")
JSON_PATH = Path("docs/pi_inventory.json")


def generated_files() -> dict[Path, str]:
    data = inventory()
    return {MARKDOWN_PATH: render_markdown(data), JSON_PATH: render_json(data)}


class Command(BaseCommand):
    help = "Print or write the personal-information inventory (Markdown and JSON)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
        parser.add_argument("--write", action="store_true", help="Write the docs files instead of printing.")
        parser.add_argument("--check", action="store_true", help="Fail when the committed docs files are stale.")
        parser.add_argument("--include-test-apps", action="store_true", help="Also list test-only apps.")

    def handle(self, *args, **options) -> None:
        base = Path(settings.BASE_DIR)
        if options["check"]:
            stale = [str(path) for path, text in generated_files().items() if not _matches(base / path, text)]
            if stale:
                raise CommandError(f"Stale: {', '.join(stale)}. Run `manage.py pi_inventory --write`.")
            self.stdout.write("The PI inventory docs are up to date.")
            return
        if options["write"]:
            for path, text in generated_files().items():
                (base / path).parent.mkdir(parents=True, exist_ok=True)
                (base / path).write_text(text, encoding="utf-8")
                self.stdout.write(f"Wrote {path}")
            return
        data = inventory(include_test_apps=options["include_test_apps"])
        self.stdout.write(render_json(data) if options["format"] == "json" else render_markdown(data), ending="")


def _matches(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except FileNotFoundError:
        return False
