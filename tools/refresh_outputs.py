"""Re-execute notebooks so their outputs are current: `python tools/refresh_outputs.py [--slow] [nbs/NN_name.ipynb ...]`;
`--clean-only` cleans the saved outputs as below without executing anything.

Each notebook runs as `nbdev-test --save` runs it (cells flagged `slow` or `notest` are skipped and keep the outputs
they have, which come from their committed results files; `--slow` runs the `slow` cells too, which read those files
and recompute only what is missing), then loses the outputs that are not the reader's
business: deprecation notices third-party packages print on import, which also name this machine's site-packages, and
progress bars. `nbdev-test` runs a notebook outside Jupyter, so fastprogress draws its console bars, whose redraws
(`\r`, `█`, `|-----`) would be saved as text; each stream keeps what a terminal would show once the bars are gone.
Large PNG outputs are re-encoded as JPEG. Finally `nbdev-clean` strips the metadata. Run from the repository root."""
import base64, io, re, subprocess, sys
from pathlib import Path
import nbformat
from PIL import Image

root = Path(__file__).resolve().parents[1]
noise = re.compile(r'(FutureWarning: `torch\.jit\.script` is deprecated|Pandas4Warning: The .mode\.chained_assignment. option)')

def quiet(cell):
    "Drop stderr stream outputs made only of third-party deprecation notices"
    keep = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream' and o.get('name') == 'stderr':
            lines = [l for l in o['text'].splitlines() if l.strip()]
            if lines and any(noise.search(l) for l in lines) and all(noise.search(l) or l.strip() == 'warnings.warn(' or 'pd.set_option' in l for l in lines): continue
        keep.append(o)
    cell['outputs'] = keep

drawn = re.compile(r'\s*(Epoch \d+/\d+ :)?\s*(\|[█X-]*\| (\d+(\.\d+)?% )?\[\d+/.*|█|X)?\s*') # a bar, its label, the blanks wiping it

def debar(text:str) -> str:
    "`text` of a stream output without console progress bars: each line as a terminal shows it once the bars are gone"
    out = []
    for line in text.split('\n'):
        kept = [s for s in line.split('\r') if not drawn.fullmatch(s)]
        if kept: out.append(kept[-1])
        elif '\r' not in line and not line.strip(): out.append(line)   # a blank line the cell printed
    return '\n'.join(out)

def unbar(cell):
    "Drop progress bars from the stream outputs of `cell`, and the outputs left empty"
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': o['text'] = debar(o['text'])
    cell['outputs'] = [o for o in cell.get('outputs', []) if o.get('output_type') != 'stream' or o['text'].strip()]

def shrink(cell, limit:int=40_000):
    "Re-encode PNG outputs over `limit` bytes as JPEG (pictures of images and heatmaps compress far better so)"
    for o in cell.get('outputs', []):
        d = o.get('data', {})
        if len(d.get('image/png', '')) <= limit: continue
        im = Image.open(io.BytesIO(base64.b64decode(d.pop('image/png')))).convert('RGB')
        buf = io.BytesIO(); im.save(buf, format='JPEG', quality=85)
        d['image/jpeg'] = base64.b64encode(buf.getvalue()).decode()

def refresh(nb_path:Path, slow:bool=False, execute:bool=True):
    "Execute `nb_path` in place (with its `slow` cells when `slow`; not at all unless `execute`), then drop the third-party noise from its outputs"
    if execute:
        res = subprocess.run(['nbdev-test', '--save', '--n-workers', '1', *(['--flags', 'slow'] if slow else []), str(nb_path)], cwd=root, capture_output=True, text=True)
        if res.returncode: raise SystemExit(f"{nb_path}: failed\n{res.stderr[-3000:]}")
    nb = nbformat.read(nb_path, as_version=4)
    for c in nb.cells:
        if c.cell_type == 'code': quiet(c); unbar(c); shrink(c)
    nbformat.write(nb, nb_path)
    subprocess.run(['nbdev-clean', '--fname', str(nb_path)], cwd=root, check=True)

if __name__ == '__main__':
    flags = {'--slow', '--clean-only'}
    slow, execute = '--slow' in sys.argv[1:], '--clean-only' not in sys.argv[1:]
    paths = [Path(p) for p in sys.argv[1:] if p not in flags] or sorted((root/'nbs').glob('[0-9]*.ipynb'))
    for p in paths: refresh(p, slow, execute); print(f"{'refreshed' if execute else 'cleaned'} {p.name}", flush=True)
