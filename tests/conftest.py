import sys
from pathlib import Path

# tests import helpers that sit beside them (reference data)
sys.path.insert(0, str(Path(__file__).parent))
