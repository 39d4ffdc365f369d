import sys
from pathlib import Path

# Make the `app` package importable when pytest runs from the repository root.
SERVICE_DIR = Path(__file__).resolve().parents[1]
if str(SERVICE_DIR) not in sys.path:
    sys.path.insert(0, str(SERVICE_DIR))
