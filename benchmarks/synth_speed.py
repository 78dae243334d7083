"""How fast `odfm.synth_layouts` writes a VeRi-776-layout benchmark, against plainly saving blank JPEGs of the same size.

    python benchmarks/synth_speed.py [--ids 100] [--layout veri] [--size 128]

Prints the wall time, images per second (clean query twins included) and the ratio to a loop that only
saves blank images with PIL: the floor for any generator that writes JPEG files one by one.
"""
import argparse, shutil, tempfile, time
from pathlib import Path
import pandas as pd
from PIL import Image
from odfm.synth_layouts import make_dataset

def blank_saves(n:int, size:int, folder:Path) -> float:
    "Seconds to save `n` blank `size`x`size` JPEGs into `folder`"
    im, t0 = Image.new('RGB', (size, size), (120, 124, 128)), time.perf_counter()
    for i in range(n): im.save(folder/f'{i:07d}.jpg', quality=90)
    return time.perf_counter() - t0

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--ids', type=int, default=100); p.add_argument('--layout', default='veri'); p.add_argument('--size', type=int, default=128)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        t0 = time.perf_counter(); root = make_dataset(tmp/'synth', a.layout, n_ids=a.ids, size=a.size); secs = time.perf_counter() - t0
        n = sum(1 for f in root.rglob('*.jpg'))
        (tmp/'blank').mkdir(); base = blank_saves(n, a.size, tmp/'blank')
        imgs = pd.read_csv(root/'odfm_meta/images.csv')
        print(f"{a.layout} layout, {a.ids} identities, {a.size}x{a.size}: {len(imgs)} images + {n-len(imgs)} clean twins")
        print(f"generation: {secs:.2f} s, {n/secs:.0f} images/s")
        print(f"blank PIL saves: {base:.2f} s, {n/base:.0f} images/s")
        print(f"ratio generation / blank saves: {secs/base:.1f}x the time")
    finally: shutil.rmtree(tmp)

if __name__ == '__main__': main()
