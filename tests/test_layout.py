"""The notebooks' reading order is the package's dependency order.

A reader who goes from the first notebook to the last meets every name before it is used: no module imports a module
whose notebook comes later, no notebook's code reaches forward either, and no `_private` name crosses modules."""
import ast, json, re
from pathlib import Path
import pytest

root = Path(__file__).resolve().parents[1]
notebooks = sorted((root/'nbs').glob('[0-9]*.ipynb'))

def cells(nb): return [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']

def default_exp(nb):
    for s in cells(nb):
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', s, re.M)
        if m: return m.group(1)

order = {default_exp(nb): i for i, nb in enumerate(notebooks) if default_exp(nb)}

def odfm_imports(tree):
    "(module, names) of every `odfm` import in `tree`, at any depth, relative ones resolved"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level: mod = 'odfm' + ('.' + mod if mod else '')
            if mod == 'odfm':  # `from odfm import x`: x is a module, or a package attribute such as `__version__`
                for a in node.names:
                    if not a.name.startswith('__'): yield f'odfm.{a.name}', []
            elif mod.startswith('odfm.'): yield mod, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith('odfm.'): yield a.name, []

def test_every_notebook_exports_a_module():
    assert len(order) == len(notebooks) and len(set(order)) == len(order)

def test_order_is_what_the_modules_say():
    assert list(order)[:2] == ['core', 'synth'] and list(order)[-1] == 'cli'

@pytest.mark.parametrize('mod', sorted(order))
def test_module_imports_only_earlier_modules(mod):
    tree = ast.parse((root/'odfm'/f'{mod}.py').read_text())
    for imported, names in odfm_imports(tree):
        other = imported.split('.')[1]
        assert other in order, f'odfm.{mod} imports {imported}, which no notebook exports'
        assert order[other] < order[mod], f'odfm.{mod} ({order[mod]:02d}) imports odfm.{other}, taught later ({order[other]:02d})'
        private = [n for n in names if n.startswith('_')]
        assert not private, f'odfm.{mod} imports private {private} from odfm.{other}'

@pytest.mark.parametrize('nb', notebooks, ids=lambda p: p.stem)
def test_notebook_uses_only_earlier_modules(nb):
    mine = order[default_exp(nb)]
    for s in cells(nb):
        code = '\n'.join(l for l in s.splitlines() if not l.lstrip().startswith(('%', '!')))
        try: tree = ast.parse(code)
        except SyntaxError: continue
        for imported, names in odfm_imports(tree):
            other = imported.split('.')[1]
            assert order.get(other, 99) <= mine, f'{nb.name} imports {imported}, taught later'
            assert not [n for n in names if n.startswith('_')], f'{nb.name} imports private names from {imported}'

def test_the_test_catches_a_forward_import():
    tree = ast.parse('from .cli import main\nfrom odfm.core import _x\nimport odfm.synth\nfrom odfm import pipeline, __version__')
    assert list(odfm_imports(tree)) == [('odfm.cli', ['main']), ('odfm.core', ['_x']), ('odfm.synth', []), ('odfm.pipeline', [])]

exported = re.compile(r'^#\|\s*(export|exports|exporti|exec_doc)\b', re.M)

def imports_with_other_code(s:str) -> bool:
    "Whether a cell that nbdev's docs build runs (it runs every cell with an import in it) also runs other code"
    code = '\n'.join(l for l in s.splitlines() if not l.lstrip().startswith(('%', '!')))
    try: tree = ast.parse(code)
    except SyntaxError: return False
    is_import = lambda n: isinstance(n, (ast.Import, ast.ImportFrom))
    return any(map(is_import, ast.walk(tree))) and not all(map(is_import, tree.body))

@pytest.mark.parametrize('nb', notebooks, ids=lambda p: p.stem)
def test_cells_with_imports_hold_only_imports(nb):
    "The docs build runs a cell that imports but not the test cells before it, so a test cell that imports fails there"
    bad = [s[:200] for s in cells(nb) if not exported.search(s) and imports_with_other_code(s)]
    assert not bad, f'{nb.name}: move these cells\' imports to the imports cell: {bad}'

def test_the_test_catches_an_import_in_a_test_cell():
    assert imports_with_other_code('x = 1\ndef f():\n    from types import SimpleNamespace')
    assert not imports_with_other_code('#| hide\nimport re\nfrom pathlib import Path')

def exported_names(mod:str) -> list:
    "The names in `odfm/<mod>.py`'s `__all__`, read without importing it"
    for node in ast.parse((root/'odfm'/f'{mod}.py').read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets): return ast.literal_eval(node.value)
    return []

def test_no_exported_name_in_two_modules():
    "One name, one meaning: `from odfm.x import name` never depends on which module a reader guessed"
    seen = {}
    for mod in order:
        for name in exported_names(mod): seen.setdefault(name, []).append(mod)
    assert not {n: m for n, m in seen.items() if len(m) > 1}
