import os
# Two cores here and in CI: keep torch from oversubscribing them when pytest-xdist runs workers side by side.
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')
