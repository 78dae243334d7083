"The offline documentation check (tools/docs_check.py): its helpers always, the whole check when ODFM_DOCS=1 (minutes)."
import os, re, sys, json
from pathlib import Path
import nbformat, pytest

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root/'tools'))
import docs_check, refresh_outputs

def _nb(cells): return nbformat.v4.new_notebook(cells=cells)

def test_notebooks_listed_like_nbdev():
    names = [p.name for p in docs_check.notebooks()]
    assert '15_cli.ipynb' in names and not any(n.startswith(('_', '.')) for n in names)

def test_markdown_pictures_found_and_web_ones_ignored():
    nb = _nb([nbformat.v4.new_markdown_cell('![a](images/x.png) ![b](https://e.org/y.png) <img src="z.svg">')])
    assert docs_check.markdown_images(nb) == ['images/x.png', 'z.svg']

def test_render_embeds_pictures_and_reports_missing(tmp_path):
    png = nbformat.v4.new_output('display_data', data={'image/png': 'iVBORw0KGgo='})
    nb = _nb([nbformat.v4.new_code_cell('plot()', outputs=[png]), nbformat.v4.new_markdown_cell('![gone](missing.png)')])
    nb.cells[0]['has_sd'] = True; nb.cells[0].metadata['execution'] = {'total': 0.1}  # as nbdev-proc-nbs leaves them
    src = tmp_path/'a.ipynb'; src.write_text(json.dumps(nb))
    problems = docs_check.render_html(src, tmp_path/'out'/'a.html', tmp_path)
    html = (tmp_path/'out'/'a.html').read_text()
    assert 'src="data:image/png' in html
    assert problems == ['picture file not found: missing.png']

@pytest.mark.skipif(os.environ.get('ODFM_DOCS') != '1', reason='minutes: set ODFM_DOCS=1 (CI runs `python tools/docs_check.py`)')
def test_docs_check_passes(tmp_path):
    assert docs_check.main(['--out', str(tmp_path)]) == 0

def test_workflow_builds_and_deploys_the_site():
    "The site the README links to is built by nbdev-docs and published by the Pages deploy job, from main only"
    import yaml
    wf = yaml.safe_load((root/'.github'/'workflows'/'ci.yml').read_text())
    jobs = wf['jobs']
    assert any('nbdev-docs' in str(s.get('run', '')) for s in jobs['docs']['steps'])
    assert jobs['deploy']['needs'] == 'docs' and 'refs/heads/main' in jobs['deploy']['if']
    assert any(str(s.get('uses', '')).startswith('actions/deploy-pages') for s in jobs['deploy']['steps'])

def test_readme_notebook_map_is_the_reading_order():
    "The README's notebook table lists every notebook, in the order of their numbers, with the module each exports"
    import re
    rows = re.findall(r'^\| \[(\w+)\]\(nbs/(\w+)\.ipynb\) \| `(odfm\.\w+)` \|', (root/'README.md').read_text(), re.M)
    nbs = sorted(p.stem for p in (root/'nbs').glob('[0-9]*.ipynb'))
    assert [r[0] for r in rows] == nbs and all(a == b for a, b, _ in rows)
    for name, _, mod in rows:
        src = (root/'nbs'/f'{name}.ipynb').read_text()
        assert f'default_exp {mod.split(".")[1]}' in src, f'{name} does not export {mod}'


@pytest.mark.parametrize('nb', sorted((root/'nbs').glob('[0-9]*.ipynb')), ids=lambda p: p.stem)
def test_outputs_hold_no_console_progress_bars(nb):
    "A console bar saved as text is a hundred redraws a reader scrolls past: `tools/refresh_outputs.py` keeps what a terminal shows"
    for c in json.loads(nb.read_text())['cells']:
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream':
                text = ''.join(o['text'])
                assert refresh_outputs.debar(text) == text, f"{nb.name}: a progress bar in the output of\n{''.join(c['source'])[:200]}"

def test_debar_keeps_what_a_terminal_shows():
    bar = '█\r\r |----| 0.00% [0/2 00:00<?]\r |████| 100.00% [2/2 00:00<00:00]\r        \rwrote 2 images\n'
    assert refresh_outputs.debar(bar) == 'wrote 2 images\n'
    assert refresh_outputs.debar('epoch  loss\n0  1.5\n') == 'epoch  loss\n0  1.5\n'

local_path = re.compile(r'/tmp/|\btmp[a-z0-9_]{8}\b|/(home|Users|root|work)/|site-packages')

def output_texts(c):
    "The text a reader sees in a cell's outputs: streams, plain text and HTML"
    for o in c.get('outputs', []):
        if 'text' in o: yield ''.join(o['text'])
        for k in ('text/plain', 'text/html', 'text/markdown'):
            if k in o.get('data', {}): yield ''.join(o['data'][k])

@pytest.mark.parametrize('nb', sorted((root/'nbs').glob('[0-9]*.ipynb')), ids=lambda p: p.stem)
def test_outputs_name_no_temporary_or_local_folder(nb):
    "An example shows its files relative to the folder it works in (`odfm.core.relative_view`), never this machine's folders"
    for c in json.loads(nb.read_text())['cells']:
        for text in output_texts(c):
            m = local_path.search(text)
            assert not m, f"{nb.name}: {text[max(0, m.start() - 60):m.end() + 60]!r} in the output of\n{''.join(c['source'])[:200]}"

measured = re.compile(r'\b(H100|H200|A100|V100|RTX ?\d+)\b|\b\d+[- ]cores?\b|(?<![-\w.])\d+(\.\d+)?\s?(ms|s|seconds?|minutes?|hours?)\b(?! of)|\bimg/s\b|\d(\.\d+)?\s?×\s?(faster|slower)', re.I)

@pytest.mark.parametrize('nb', sorted((root/'nbs').glob('[0-9]*.ipynb')) + [root/'index.ipynb'], ids=lambda p: p.stem)
def test_prose_names_no_machine_or_timing(nb):
    "Prose teaches; benchmarks/README.md measures (a timing in prose goes stale with the next machine)"
    for c in json.loads(nb.read_text())['cells']:
        if c['cell_type'] != 'markdown': continue
        s = ''.join(c['source'])
        m = measured.search(s)
        assert not m, f"{nb.name}: {s[max(0, m.start() - 80):m.end() + 40]!r}"

def test_the_prose_check_catches_a_timing():
    assert measured.search('on one H100') and measured.search('the 2-core machine') and measured.search('takes 12 s') and measured.search('1.4× faster')
    assert not measured.search('ResNet-50 at 256×256, 5 seeds, 24 epochs')
