"""Render README.md from index.ipynb without Quarto: `python tools/readme.py` writes it, `tests/test_package.py` checks it."""
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

root = Path(__file__).resolve().parents[1]

def _shown(cell): return not cell.source.lstrip().startswith('#| hide')

def render_readme(nb_path=root/'index.ipynb') -> str:
    "Markdown of the landing notebook, hidden cells left out"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells = [c for c in nb.cells if _shown(c)]
    md, _ = MarkdownExporter().from_notebook_node(nb)
    return '<!-- Generated from index.ipynb by tools/readme.py: edit the notebook, not this file. -->\n\n' + md.strip() + '\n'

if __name__ == '__main__': (root/'README.md').write_text(render_readme())
