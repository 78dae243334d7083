"""Check the documentation everywhere short of Quarto (which `nbdev-docs` needs and which cannot be installed offline):
`nbdev-proc-nbs` processes every notebook as the site build does, then each processed notebook is rendered to HTML
offline by nbconvert with its pictures embedded. Any failure is listed and the exit status is 1.

    python tools/docs_check.py            # HTML pages go to _docs/offline/
    python tools/docs_check.py --out DIR
"""
import argparse, re, shutil, subprocess, sys, time
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter

root = Path(__file__).resolve().parents[1]
nbs, proc = root/'nbs', root/'_proc'
image_types = ('image/png', 'image/jpeg', 'image/svg+xml')
md_image = re.compile(r'!\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)|<img[^>]*\bsrc=["\']([^"\']+)["\']')

def notebooks(folder:Path=nbs) -> list:
    "The notebooks nbdev publishes: every `*.ipynb` under `folder`, skipping names starting with '_' or '.'"
    return sorted(p for p in folder.rglob('*.ipynb') if not any(part[0] in '_.' for part in p.relative_to(folder).parts))

def proc_nbs(*args) -> subprocess.CompletedProcess:
    "Run `nbdev-proc-nbs` in the repository with `args`"
    exe = shutil.which('nbdev-proc-nbs') or str(Path(sys.executable).parent/'nbdev-proc-nbs')
    return subprocess.run([exe, *args], cwd=root, capture_output=True, text=True)

def error_of(res:subprocess.CompletedProcess) -> str:
    "The last lines of a failed run's output, where nbdev names the notebook, cell and error"
    lines = (res.stdout + res.stderr).strip().splitlines()
    start = max((i for i, l in enumerate(lines) if l.startswith('Exception: Error')), default=max(0, len(lines) - 8))
    return '\n'.join(lines[start:start + 30])

def process_all() -> dict:
    "Process every notebook (from scratch); on failure, again one by one so every failing notebook is named"
    res = proc_nbs('--force')
    if res.returncode == 0: return {}
    errors = {}
    for nb in notebooks():
        r = proc_nbs('--n-workers', '0', '--file-glob', nb.name)
        if r.returncode: errors[nb.relative_to(root).as_posix()] = error_of(r)
    return errors or {'nbdev-proc-nbs': error_of(res)}

def output_images(nb) -> int:
    "Number of pictures among a notebook's code-cell outputs"
    return sum(any(t in o.get('data', {}) for t in image_types) for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []))

def markdown_images(nb) -> list:
    "Local picture paths referenced by the notebook's markdown cells (web addresses left out)"
    refs = [a or b for c in nb.cells if c.cell_type == 'markdown' for a, b in md_image.findall(c.source)]
    return [r for r in refs if not re.match(r'^(https?:|data:|attachment:)', r)]

cell_keys = {'code': {'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count'},
             'markdown': {'cell_type', 'id', 'metadata', 'source', 'attachments'}, 'raw': {'cell_type', 'id', 'metadata', 'source', 'attachments'}}

def plain_notebook(nb):
    "`nb` without what nbdev's processing adds outside the notebook format (`has_sd`, timing metadata)"
    for c in nb.cells:
        for k in set(c) - cell_keys[c.cell_type]: del c[k]
        c.metadata.pop('execution', None)
    return nb

def render_html(src:Path, # a processed notebook
                dest:Path, # the HTML file to write
                images_from:Path) -> list: # folder of the source notebook (where its picture files are)
    "Render `src` to `dest` with nbconvert, pictures embedded; return the problems found"
    nb = plain_notebook(nbformat.read(src, as_version=4))
    missing = [r for r in markdown_images(nb) if not (images_from/r).exists()]
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb, resources={'metadata': {'path': str(images_from)}})
    dest.parent.mkdir(parents=True, exist_ok=True); dest.write_text(body, encoding='utf-8')
    problems = [f'picture file not found: {r}' for r in missing]
    n_out, n_html = output_images(nb), body.count('src="data:image/') + body.count('<svg')
    if n_html < n_out: problems.append(f'{n_out} pictures in the outputs but only {n_html} in the HTML')
    return problems

def process_clean() -> dict:
    "`process_all`, then remove the Quarto files nbdev writes into `nbs/` when they were not there before"
    before = set(nbs.iterdir())
    try: return process_all()
    finally:
        for p in set(nbs.iterdir()) - before:
            if p.name in ('_quarto.yml', 'nbdev.yml', 'sidebar.yml'): p.unlink()

def check(out:Path) -> dict:
    "Process and render every notebook; {notebook: problems} for those that fail"
    errors = {k: [v] for k, v in process_clean().items()}
    for nb in notebooks():
        rel = nb.relative_to(nbs); src = proc/rel
        key = nb.relative_to(root).as_posix()
        if key in errors: continue
        if not src.exists(): errors[key] = ['nbdev-proc-nbs wrote no processed notebook']; continue
        try: probs = render_html(src, (out/rel).with_suffix('.html'), nb.parent)
        except Exception as e: probs = [f'nbconvert failed: {type(e).__name__}: {e}']
        if probs: errors[key] = probs
    return errors

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default=str(root/'_docs'/'offline'), help='folder for the HTML pages (default: _docs/offline)')
    out = Path(p.parse_args(argv).out).absolute()
    t = time.perf_counter(); errors = check(out); n = len(notebooks())
    for k, probs in errors.items(): print(f'FAILED {k}:\n' + '\n'.join('  ' + l for pr in probs for l in pr.splitlines()), file=sys.stderr)
    print(f'{n - len(errors)} of {n} notebooks processed and rendered to {out} in {time.perf_counter() - t:.0f} s'
          + (f'; {len(errors)} failed' if errors else ''))
    return 1 if errors else 0

if __name__ == '__main__': sys.exit(main())
