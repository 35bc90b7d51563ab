"""Where the tests find things outside the package."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The official INSi contract, beside the repository (never copied into it).
REFERENCE_DIR = ROOT.parent / "shared" / "reference" / "insi"
FIXTURES = ROOT / "tests" / "fixtures"
